// Package sdk holds the test that drives mosaic-proxy with the official
// `openai` npm package (6.x, Node 20): sdk_test.go builds cmd/mosaic-proxy,
// starts it in front of a fakeopenai upstream and runs openai.test.mjs with
// `node --test`, one scenario (proxy configuration and set of cases) at a
// time. Install the SDK with `npm ci` in this directory first; without
// node_modules the test skips, except in CI (CI set), where it fails.
package sdk
