// Which error bodies the page may merge from. Only an RFC 9457 problem that carries the current
// document (`current`) with its strong tag (`current_etag`, equal to the ETag field when there
// is one) is a representation; anything else (a JSON:API error, an HTML page from a proxy, a
// problem without `current`) says nothing about the document, and the page reads it afresh.
// The same rule as the Python client's `ifmatch.client.current_representation`.

const STRONG_TAG = /^"[\x21\x23-\x7e\x80-\xff]*"$/;
const REFUSALS = new Set([409, 412, 428]);

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The body of a response as JSON, or null when it is empty or not JSON. */
export function parseBody(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** `{current, etag}` when `result` ({status, contentType, etag, body}) is a problem carrying
 * the current representation, else null. */
export function currentRepresentation(result) {
  if (!REFUSALS.has(result.status)) return null;
  const mediaType = (result.contentType || "").split(";")[0].trim().toLowerCase();
  if (mediaType !== "application/problem+json" || !isObject(result.body)) return null;
  const { body } = result;
  if (body.status !== undefined && body.status !== result.status) return null;
  if (!isObject(body.current)) return null;
  const tag = body.current_etag;
  if (typeof tag !== "string" || !STRONG_TAG.test(tag)) return null;
  if (result.etag && result.etag !== tag) return null;
  return { current: body.current, etag: tag };
}
