-- Argo CD health of a Mosaic RateLimitPolicy (llm.mosaic.dev/v1alpha1), from its Accepted condition.
-- Healthy: Accepted is True for the current spec (status.observedGeneration == metadata.generation).
-- Progressing: no status yet, a spec generation the operator has not observed, or Accepted Unknown.
-- Degraded: Accepted is False; the message is the condition's.
local hs = {}
local status = obj.status
if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to accept the policy"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
for _, condition in ipairs(status.conditions) do
  if condition.type == "Accepted" then
    local message = condition.message
    if message == nil or message == "" then
      message = condition.reason or ""
    end
    if condition.status == "True" then
      hs.status = "Healthy"
    elseif condition.status == "False" then
      hs.status = "Degraded"
    else
      hs.status = "Progressing"
    end
    hs.message = message
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the Accepted condition"
return hs
