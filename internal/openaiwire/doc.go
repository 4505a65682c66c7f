// Package openaiwire holds the OpenAI HTTP API wire types shared by the in-process Fake provider
// and the test upstream (test/fakeopenai): the response bodies of chat completions (plain and
// streamed), legacy completions, embeddings, responses and models, and the error body.
//
// Field names, JSON keys, key order and null-versus-absent follow OpenAI's API reference, so that
// the official SDKs parse them as they parse OpenAI's own answers. Counts are int64, as the
// reference's "integer" and the openai-go SDK have them. Objects the fakes never fill (log
// probabilities, annotations, tools) are json.RawMessage: nil encodes as null.
//
// Request parsing, validation and fault injection stay with each fake.
package openaiwire
