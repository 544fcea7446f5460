// Unit tests of the page's rule for error bodies. Run: node --test tests/demo/problem.test.mjs
// (tests/demo/test_diff3.py runs them from pytest).
import assert from "node:assert/strict";
import { test } from "node:test";

import { currentRepresentation, parseBody } from "../../src/ifmatch/demo/web/problem.mjs";

const DOC = { id: 7, title: "t", text: "theirs\n" };
const PROBLEM = "application/problem+json";

function refusal(overrides = {}, body = {}) {
  return {
    status: 412,
    contentType: PROBLEM,
    etag: '"v4"',
    body: { status: 412, code: "etag-mismatch", current_etag: '"v4"', current: DOC, ...body },
    ...overrides,
  };
}

test("a problem carrying the current document is merged from", () => {
  assert.deepEqual(currentRepresentation(refusal()), { current: DOC, etag: '"v4"' });
  assert.deepEqual(currentRepresentation(refusal({ etag: null })), { current: DOC, etag: '"v4"' });
  const charset = refusal({ contentType: "Application/Problem+JSON; charset=utf-8" });
  assert.deepEqual(currentRepresentation(charset)?.current, DOC);
});

test("a JSON:API error document is never taken for the document", () => {
  const errors = { errors: [{ status: "412", meta: { current: DOC, current_etag: '"v4"' } }] };
  const result = { status: 412, contentType: "application/vnd.api+json", etag: '"v4"', body: errors };
  assert.equal(currentRepresentation(result), null);
});

test("other bodies are never taken for the document", () => {
  for (const result of [
    refusal({ contentType: "application/json" }),
    refusal({ contentType: "text/html", body: null }),
    refusal({ body: null }),
    refusal({}, { current: undefined }),
    refusal({}, { current: "text" }),
    refusal({}, { current: [DOC] }),
    refusal({}, { current_etag: undefined }),
    refusal({}, { current_etag: 'W/"v4"' }),
    refusal({ etag: '"v5"' }),
    refusal({}, { status: 500 }),
    refusal({ status: 500 }),
    refusal({ status: 200 }),
  ]) {
    assert.equal(currentRepresentation(result), null, JSON.stringify(result));
  }
});

test("a body that is not JSON reads as nothing", () => {
  assert.equal(parseBody(""), null);
  assert.equal(parseBody("<html>Bad Gateway</html>"), null);
  assert.deepEqual(parseBody('{"a": 1}'), { a: 1 });
});
