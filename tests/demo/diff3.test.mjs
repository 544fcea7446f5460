// Unit tests of the page's three-way merge. Run: node --test tests/demo/diff3.test.mjs
// (tests/demo/test_diff3.py runs them from pytest).
import assert from "node:assert/strict";
import { test } from "node:test";

import {
  changedLines,
  findConflicts,
  lcsMatch,
  merge3,
  mergeTexts,
  mergeValue,
  resolveConflict,
  splitLines,
} from "../../src/ifmatch/demo/web/diff3.mjs";

const BASE = ["title", "", "one", "two", "three", "four", "five", ""].join("\n");

function edit(text, index, replacement) {
  const lines = splitLines(text);
  lines.splice(index, 1, ...replacement);
  return lines.join("\n");
}

test("splitLines round-trips and normalises CRLF", () => {
  assert.deepEqual(splitLines("a\r\nb\n"), ["a", "b", ""]);
  assert.equal(splitLines(BASE).join("\n"), BASE);
});

test("lcsMatch pairs the longest common subsequence, in order", () => {
  const a = ["a", "b", "c", "d", "e"];
  const b = ["a", "x", "c", "e", "y"];
  assert.deepEqual(lcsMatch(a, b), [0, -1, 2, -1, 3]);
  assert.deepEqual(lcsMatch([], ["x"]), []);
  assert.deepEqual(lcsMatch(["x", "x"], ["x"]), [0, -1]);
});

test("changedLines lists added and changed lines of the other side", () => {
  assert.deepEqual([...changedLines(["a", "b", "c"], ["a", "B", "c", "d"])], [1, 3]);
  assert.deepEqual([...changedLines(["a"], ["a"])], []);
});

test("no changes: the base comes back", () => {
  const result = mergeTexts(BASE, BASE, BASE);
  assert.equal(result.text, BASE);
  assert.equal(result.conflicts, 0);
  assert.equal(result.merged, 0);
});

test("a change on one side only is taken", () => {
  const mine = edit(BASE, 3, ["TWO"]);
  assert.equal(mergeTexts(BASE, mine, BASE).text, mine);
  assert.equal(mergeTexts(BASE, BASE, mine).text, mine);
});

test("non-overlapping edits on both sides merge without conflict", () => {
  const mine = edit(BASE, 2, ["ONE (Ada)"]);
  const theirs = edit(BASE, 6, ["FIVE (Guido)"]);
  const result = mergeTexts(BASE, mine, theirs);
  assert.equal(result.conflicts, 0);
  assert.equal(result.merged, 2);
  assert.equal(result.text, edit(mine, 6, ["FIVE (Guido)"]));
});

test("insertions and deletions on different sides merge", () => {
  const mine = edit(BASE, 2, ["zero", "one"]); // insert before "one"
  const theirs = edit(BASE, 5, []); // delete "four"
  const result = mergeTexts(BASE, mine, theirs);
  assert.equal(result.conflicts, 0);
  assert.equal(result.text, ["title", "", "zero", "one", "two", "three", "five", ""].join("\n"));
});

test("appends at the end on both sides conflict, and are marked", () => {
  const mine = BASE + "six (Ada)\n";
  const theirs = BASE + "six (Guido)\n";
  const result = mergeTexts(BASE, mine, theirs, { mine: "yours", theirs: "server v3" });
  assert.equal(result.conflicts, 1);
  assert.match(result.text, /<<<<<<< yours\nsix \(Ada\)\n\|\|\|\|\|\|\| base\n=======\n/);
  assert.match(result.text, /=======\nsix \(Guido\)\n>>>>>>> server v3/);
});

test("the same change on both sides is not a conflict", () => {
  const both = edit(BASE, 4, ["THREE"]);
  const result = mergeTexts(BASE, both, both);
  assert.equal(result.conflicts, 0);
  assert.equal(result.text, both);
});

test("different changes to the same line conflict; the rest still merges", () => {
  const mine = edit(edit(BASE, 3, ["two (Ada)"]), 6, ["five (Ada)"]);
  const theirs = edit(edit(BASE, 3, ["two (Guido)"]), 0, ["Title (Guido)"]);
  const result = mergeTexts(BASE, mine, theirs);
  assert.equal(result.conflicts, 1);
  const kinds = result.chunks.map((chunk) => chunk.kind);
  assert.deepEqual(kinds, ["theirs", "same", "conflict", "same", "mine", "same"]);
  const [block] = findConflicts(result.text);
  assert.deepEqual(block.mine, ["two (Ada)"]);
  assert.deepEqual(block.base, ["two"]);
  assert.deepEqual(block.theirs, ["two (Guido)"]);
  assert.ok(result.text.startsWith("Title (Guido)\n"));
  assert.ok(result.text.includes("five (Ada)"));
});

test("changes to adjacent lines conflict: diff3 needs an unchanged line between them", () => {
  // "two" (index 3) and "three" (index 4) touch: no base line both sides kept lies between.
  const mine = edit(BASE, 3, ["two (Ada)"]);
  const theirs = edit(BASE, 4, ["three (Guido)"]);
  const adjacent = mergeTexts(BASE, mine, theirs);
  assert.equal(adjacent.conflicts, 1);
  const [block] = findConflicts(adjacent.text);
  assert.deepEqual(block.mine, ["two (Ada)", "three"]);
  assert.deepEqual(block.base, ["two", "three"]);
  assert.deepEqual(block.theirs, ["two", "three (Guido)"]);
  // One unchanged line ("three") between the two changes is enough to merge them.
  const apart = mergeTexts(BASE, mine, edit(BASE, 5, ["four (Guido)"]));
  assert.equal(apart.conflicts, 0);
  assert.equal(apart.merged, 2);
  assert.equal(apart.text, edit(mine, 5, ["four (Guido)"]));
});

test("a line inserted next to a line the other side changed conflicts", () => {
  const mine = edit(BASE, 4, ["inserted (Ada)", "three"]); // a new line between two and three
  const theirs = edit(BASE, 3, ["two (Guido)"]);
  assert.equal(mergeTexts(BASE, mine, theirs).conflicts, 1);
  const further = edit(BASE, 6, ["inserted (Ada)", "five"]); // between four and five
  assert.equal(mergeTexts(BASE, further, theirs).conflicts, 0);
});

test("mergeValue: one-sided or identical changes are taken, different ones need a choice", () => {
  assert.deepEqual(mergeValue("t", "t", "t"), { value: "t", conflict: null });
  assert.deepEqual(mergeValue("t", "mine", "t"), { value: "mine", conflict: null });
  assert.deepEqual(mergeValue("t", "t", "theirs"), { value: "theirs", conflict: null });
  assert.deepEqual(mergeValue("t", "same", "same"), { value: "same", conflict: null });
  assert.deepEqual(mergeValue("t", "mine", "theirs"), {
    value: null,
    conflict: { mine: "mine", theirs: "theirs" },
  });
  assert.deepEqual(mergeValue("t", "", "theirs").conflict, { mine: "", theirs: "theirs" });
});

test("one side deletes a line the other changed: conflict", () => {
  const mine = edit(BASE, 4, []);
  const theirs = edit(BASE, 4, ["three (changed)"]);
  const result = mergeTexts(BASE, mine, theirs);
  assert.equal(result.conflicts, 1);
  assert.deepEqual(findConflicts(result.text)[0].mine, []);
});

test("merge3 on empty texts", () => {
  assert.deepEqual(merge3([], [], []), []);
  assert.deepEqual(merge3([], ["a"], []), [{ kind: "mine", lines: ["a"] }]);
});

test("resolveConflict picks mine, theirs or both, block by block", () => {
  const mine = edit(edit(BASE, 2, ["one (Ada)"]), 6, ["five (Ada)"]);
  const theirs = edit(edit(BASE, 2, ["one (Guido)"]), 6, ["five (Guido)"]);
  const { text, conflicts } = mergeTexts(BASE, mine, theirs);
  assert.equal(conflicts, 2);
  const first = resolveConflict(text, 0, "both");
  assert.equal(findConflicts(first).length, 1);
  assert.ok(first.includes("one (Ada)\none (Guido)\ntwo"));
  const done = resolveConflict(first, 0, "theirs");
  assert.deepEqual(findConflicts(done), []);
  assert.equal(done, edit(edit(BASE, 2, ["one (Ada)", "one (Guido)"]), 7, ["five (Guido)"]));
  assert.equal(resolveConflict(text, 1, "mine").includes("five (Ada)"), true);
  assert.throws(() => resolveConflict(done, 0, "mine"), RangeError);
  assert.throws(() => resolveConflict(text, 0, "neither"), TypeError);
});

test("hand edits outside the markers survive resolving", () => {
  const { text } = mergeTexts("a\nb\n", "a\nB1\n", "a\nB2\n");
  const edited = text.replace(/^a$/m, "A (edited by hand)");
  assert.equal(resolveConflict(edited, 0, "mine"), "A (edited by hand)\nB1\n");
});

test("a larger document merges quickly and correctly", () => {
  const base = Array.from({ length: 2000 }, (_, i) => `line ${i}`);
  const mine = base.map((line, i) => (i % 100 === 10 ? `${line} (Ada)` : line));
  const theirs = base.map((line, i) => (i % 100 === 60 ? `${line} (Guido)` : line));
  const result = mergeTexts(base.join("\n"), mine.join("\n"), theirs.join("\n"));
  assert.equal(result.conflicts, 0);
  const lines = splitLines(result.text);
  assert.equal(lines.length, 2000);
  assert.equal(lines[10], "line 10 (Ada)");
  assert.equal(lines[60], "line 60 (Guido)");
});
