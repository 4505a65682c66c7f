// The official `openai` npm package driving an OpenAI-compatible base URL
// (mosaic-proxy in front of a fake upstream, set up by sdk_test.go).
//
// Environment:
//   OPENAI_BASE_URL, OPENAI_API_KEY   read by the SDK itself (the webhook injects them into pods)
//   MOSAIC_SDK_CASES                   comma-separated cases to run (default: all that need no special setup:
//                                      chat,stream,embeddings,responses,models,unknown_model)
//   MOSAIC_SDK_MODEL                   chat model (default gpt-4o-mini)
//   MOSAIC_SDK_EMBEDDING_MODEL         embedding model (default text-embedding-3-small)
//   MOSAIC_SDK_EXPECT_TEXT             exact reply text expected from chat, stream and responses (optional)
//   MOSAIC_SDK_EXPECT_MODELS           comma-separated ids models.list must include (optional)
//   MOSAIC_SDK_BLOCKED_PROMPT          prompt the proxy must refuse in case "blocked"
//                                      (default: one holding a test credit card number)
//
// Cases: chat, stream, embeddings, responses, models, unknown_model, blocked, rate_limited.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { BadRequestError, NotFoundError, RateLimitError } from 'openai';

const defaultCases = 'chat,stream,embeddings,responses,models,unknown_model';
const cases = new Set((process.env.MOSAIC_SDK_CASES || defaultCases).split(',').map((s) => s.trim()).filter(Boolean));
const known = new Set([...defaultCases.split(','), 'blocked', 'rate_limited']);
for (const c of cases) {
  if (!known.has(c)) throw new Error(`MOSAIC_SDK_CASES: unknown case "${c}"; known: ${[...known].join(', ')}`);
}
if (!process.env.OPENAI_BASE_URL) throw new Error('OPENAI_BASE_URL is not set');

const model = process.env.MOSAIC_SDK_MODEL || 'gpt-4o-mini';
const embeddingModel = process.env.MOSAIC_SDK_EMBEDDING_MODEL || 'text-embedding-3-small';
const expectText = process.env.MOSAIC_SDK_EXPECT_TEXT;
// The SDK reads OPENAI_BASE_URL and OPENAI_API_KEY; retries off so each case sees the proxy's own answer.
const client = new OpenAI({ maxRetries: 0, timeout: 20_000 });
const messages = [
  { role: 'system', content: 'You are a concise assistant.' },
  { role: 'user', content: 'Say hello to the sidecar.' },
];

function when(name, fn) {
  test(name, { skip: !cases.has(name) && 'not in MOSAIC_SDK_CASES' }, fn);
}

when('chat', async () => {
  const res = await client.chat.completions.create({ model, messages, max_tokens: 64 });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices.length, 1);
  const text = res.choices[0].message.content;
  assert.ok(text.length > 0, 'empty reply');
  if (expectText !== undefined) assert.equal(text, expectText);
  assert.ok(res.usage.prompt_tokens > 0 && res.usage.completion_tokens > 0, 'usage missing');
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
});

when('stream', async () => {
  // Without include_usage: the proxy must not leak the usage chunk it asked for itself.
  const stream = await client.chat.completions.create({ model, messages, stream: true });
  let text = '';
  let chunks = 0;
  let finish = null;
  for await (const chunk of stream) {
    chunks++;
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.ok(!chunk.usage, `usage chunk sent although include_usage was not asked: ${JSON.stringify(chunk)}`);
    assert.equal(chunk.choices.length, 1, 'every chunk has one choice');
    text += chunk.choices[0].delta?.content ?? '';
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  assert.ok(chunks >= 3, `only ${chunks} chunks`);
  assert.equal(finish, 'stop');
  if (expectText !== undefined) assert.equal(text, expectText);

  // With include_usage: the last chunk has no choices and the usage.
  const withUsage = await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
  let last;
  let usageText = '';
  for await (const chunk of withUsage) {
    last = chunk;
    usageText += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.deepEqual(last.choices, []);
  assert.ok(last.usage.completion_tokens > 0, 'final usage chunk missing');
  assert.equal(usageText, text);
});

when('embeddings', async () => {
  // The SDK asks for base64 by default and decodes it.
  const inputs = ['first input', 'second input', 'first input'];
  const res = await client.embeddings.create({ model: embeddingModel, input: inputs });
  assert.equal(res.object, 'list');
  assert.equal(res.data.length, inputs.length);
  res.data.forEach((e, i) => {
    assert.equal(e.index, i);
    assert.ok(Array.isArray(e.embedding) && e.embedding.length > 0, `embedding ${i} is empty`);
  });
  assert.deepEqual(res.data[2].embedding, res.data[0].embedding, 'equal inputs, different vectors');
  assert.notDeepEqual(res.data[1].embedding, res.data[0].embedding, 'different inputs, equal vectors');
  assert.ok(res.usage.prompt_tokens > 0);

  const floats = await client.embeddings.create({ model: embeddingModel, input: 'one input', dimensions: 8, encoding_format: 'float' });
  assert.equal(floats.data.length, 1);
  assert.equal(floats.data[0].embedding.length, 8);
});

when('responses', async () => {
  const res = await client.responses.create({ model, input: 'Say hello to the sidecar.', instructions: 'Be brief.' });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  assert.ok(res.output_text.length > 0, 'empty output_text');
  if (expectText !== undefined) assert.equal(res.output_text, expectText);
  assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0, 'usage missing');
});

when('models', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  assert.ok(ids.includes(model), `models.list lacks ${model}: ${ids.join(', ')}`);
  for (const want of (process.env.MOSAIC_SDK_EXPECT_MODELS || '').split(',').filter(Boolean)) {
    assert.ok(ids.includes(want), `models.list lacks ${want}: ${ids.join(', ')}`);
  }
});

when('unknown_model', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'no-such-model-xyz', messages }), (err) => {
    assert.ok(err instanceof NotFoundError, `want NotFoundError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    assert.ok(err.message.length > 0);
    return true;
  });
});

when('blocked', async () => {
  const prompt = process.env.MOSAIC_SDK_BLOCKED_PROMPT || 'Charge my card 4111 1111 1111 1111 tomorrow.';
  await assert.rejects(client.chat.completions.create({ model, messages: [{ role: 'user', content: prompt }] }), (err) => {
    assert.ok(err instanceof BadRequestError, `want BadRequestError, got ${err?.constructor?.name}: ${err?.message}`);
    assert.equal(err.status, 400);
    assert.ok(err.type, 'error type missing');
    for (const word of prompt.split(/\s+/).filter((w) => /\d{4}/.test(w))) {
      assert.ok(!err.message.includes(word), 'the error echoes the matched text');
    }
    return true;
  });
});

when('rate_limited', async () => {
  // The proxy (or the upstream through it) must answer 429 within a few requests.
  let caught;
  for (let i = 0; i < 5 && !caught; i++) {
    try {
      await client.chat.completions.create({ model, messages });
    } catch (err) {
      caught = err;
    }
  }
  assert.ok(caught, 'no request was rate limited');
  assert.ok(caught instanceof RateLimitError, `want RateLimitError, got ${caught?.constructor?.name}: ${caught?.message}`);
  assert.equal(caught.status, 429);
  const retryAfter = caught.headers.get('retry-after');
  assert.ok(retryAfter && Number(retryAfter) > 0, `Retry-After header ${retryAfter}`);
});
