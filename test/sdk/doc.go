// Package sdk holds the test that drives mosaic-proxy with the official
// `openai` npm package (6.x, Node 20): sdk_test.go builds cmd/mosaic-proxy,
// starts it in front of a fakeopenai upstream and runs openai.test.mjs with
// `node --test`, one scenario (proxy configuration and set of cases) at a
// time. Script (FindScript, Command, CheckPassed) runs the same script for
// test/e2e. Install the SDK with `make sdk-deps` (`npm ci` in this directory)
// first; without node_modules the tests skip, except in CI (CI set), where
// they fail.
package sdk
