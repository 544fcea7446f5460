// Line-based three-way merge (diff3), for merging in the browser after a 412.
//
// Given the common base (the version the page loaded), "mine" (the page's edits) and "theirs"
// (the version on the server now), merge3 keeps every line nobody changed, takes a change made
// on one side only, and marks the places both sides changed differently as conflicts.
//
// The method is the classic one (as in GNU diff3 and git's merge): match the base line by line
// against each side with a longest common subsequence; base lines matched in BOTH sides are
// "stable" anchors; between two anchors lies an "unstable" chunk, which is resolved by comparing
// the three versions of that chunk.

/** Split a text into lines. "a\nb\n" gives ["a", "b", ""], so joining with "\n" round-trips. */
export function splitLines(text) {
  return text.replace(/\r\n?/g, "\n").split("\n");
}

/**
 * Longest common subsequence of two line arrays.
 * Returns an array `match` with match[i] = the index in `b` of line a[i], or -1 if a[i] is not
 * part of the subsequence. Common prefix and suffix are matched first, so the quadratic table
 * only covers the part that actually differs.
 */
export function lcsMatch(a, b) {
  const match = new Array(a.length).fill(-1);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) {
    match[start] = start;
    start++;
  }
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
    match[endA] = endB;
  }
  const n = endA - start;
  const m = endB - start;
  // lengths[i][j]: LCS length of a[start+i..endA) and b[start+j..endB), as one flat array.
  const width = m + 1;
  const lengths = new Uint32Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[i * width + j] =
        a[start + i] === b[start + j]
          ? lengths[(i + 1) * width + j + 1] + 1
          : Math.max(lengths[(i + 1) * width + j], lengths[i * width + j + 1]);
    }
  }
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[start + i] === b[start + j]) {
      match[start + i] = start + j;
      i++;
      j++;
    } else if (lengths[(i + 1) * width + j] >= lengths[i * width + j + 1]) {
      i++;
    } else {
      j++;
    }
  }
  return match;
}

/** The indexes of lines of `other` that are not in the base (added or changed lines). */
export function changedLines(base, other) {
  const matched = new Set(lcsMatch(other, base).flatMap((j, i) => (j >= 0 ? [i] : [])));
  return new Set(other.map((_, i) => i).filter((i) => !matched.has(i)));
}

function sameLines(x, y) {
  return x.length === y.length && x.every((line, i) => line === y[i]);
}

/**
 * Merge line arrays: base, mine and theirs.
 * Returns an array of chunks, in order:
 *   {kind: "same", lines}                   nobody changed these lines
 *   {kind: "mine" | "theirs" | "both", lines} one side changed them (or both, identically)
 *   {kind: "conflict", mine, base, theirs}   both changed them, differently
 */
export function merge3(base, mine, theirs) {
  const toMine = lcsMatch(base, mine);
  const toTheirs = lcsMatch(base, theirs);
  const chunks = [];
  const push = (chunk) => {
    const last = chunks[chunks.length - 1];
    if (chunk.kind !== "conflict" && last && last.kind === chunk.kind) {
      last.lines.push(...chunk.lines);
    } else if (chunk.kind === "conflict" || chunk.lines.length > 0) {
      chunks.push(chunk);
    }
  };
  let i = 0; // next base line
  let a = 0; // next line of mine
  let b = 0; // next line of theirs
  while (i < base.length || a < mine.length || b < theirs.length) {
    // The next anchor: a base line at or after i that both sides kept.
    let k = i;
    while (k < base.length && (toMine[k] < 0 || toTheirs[k] < 0)) k++;
    const endA = k < base.length ? toMine[k] : mine.length;
    const endB = k < base.length ? toTheirs[k] : theirs.length;
    if (k === i && endA === a && endB === b) {
      // Stable: the same line in all three, at the current position of each.
      push({ kind: "same", lines: [base[i]] });
      i++;
      a++;
      b++;
      continue;
    }
    push(resolve(base.slice(i, k), mine.slice(a, endA), theirs.slice(b, endB)));
    i = k;
    a = endA;
    b = endB;
  }
  return chunks;
}

/** Resolve one unstable chunk by comparing its three versions. */
function resolve(base, mine, theirs) {
  if (sameLines(mine, theirs)) return { kind: "both", lines: mine };
  if (sameLines(base, mine)) return { kind: "theirs", lines: theirs };
  if (sameLines(base, theirs)) return { kind: "mine", lines: mine };
  return { kind: "conflict", mine, base, theirs };
}

/**
 * Merge one value that has no lines to merge (a title): {value, conflict}. A change made on one
 * side only is taken, the same change on both sides is no conflict, and different changes on
 * both sides give `conflict: {mine, theirs}` with `value` null: the user has to choose.
 */
export function mergeValue(base, mine, theirs) {
  if (mine === theirs || theirs === base) return { value: mine, conflict: null };
  if (mine === base) return { value: theirs, conflict: null };
  return { value: null, conflict: { mine, theirs } };
}

export const MARKERS = Object.freeze({
  mine: "<<<<<<<",
  base: "|||||||",
  split: "=======",
  theirs: ">>>>>>>",
});

/**
 * Merge three texts. Returns {text, conflicts, merged, chunks}: `text` is the merged text with
 * each conflict written between markers (git's "diff3" style, labelled with `labels`),
 * `conflicts` how many there are, and `merged` how many one-sided changes were taken.
 */
export function mergeTexts(base, mine, theirs, labels = {}) {
  const names = { mine: "yours", base: "base", theirs: "theirs", ...labels };
  const chunks = merge3(splitLines(base), splitLines(mine), splitLines(theirs));
  const out = [];
  let conflicts = 0;
  let merged = 0;
  for (const chunk of chunks) {
    if (chunk.kind !== "conflict") {
      if (chunk.kind === "mine" || chunk.kind === "theirs") merged++;
      out.push(...chunk.lines);
      continue;
    }
    conflicts++;
    out.push(`${MARKERS.mine} ${names.mine}`, ...chunk.mine);
    out.push(`${MARKERS.base} ${names.base}`, ...chunk.base);
    out.push(MARKERS.split, ...chunk.theirs);
    out.push(`${MARKERS.theirs} ${names.theirs}`);
  }
  return { text: out.join("\n"), conflicts, merged, chunks };
}

/** Find the conflict blocks written by mergeTexts in a (possibly hand-edited) text. */
export function findConflicts(text) {
  const lines = splitLines(text);
  const blocks = [];
  let open = null;
  lines.forEach((line, index) => {
    if (line.startsWith(MARKERS.mine)) {
      open = { start: index, base: -1, split: -1 };
    } else if (open && line.startsWith(MARKERS.base) && open.split < 0) {
      open.base = index;
    } else if (open && line === MARKERS.split) {
      open.split = index;
    } else if (open && line.startsWith(MARKERS.theirs) && open.split >= 0) {
      const mineEnd = open.base >= 0 ? open.base : open.split;
      blocks.push({
        start: open.start,
        end: index,
        mine: lines.slice(open.start + 1, mineEnd),
        base: open.base >= 0 ? lines.slice(open.base + 1, open.split) : [],
        theirs: lines.slice(open.split + 1, index),
      });
      open = null;
    }
  });
  return blocks;
}

/**
 * Replace the `index`-th conflict block of `text` with a choice: "mine", "theirs", or "both"
 * (mine, then theirs). Returns the new text; other blocks and hand edits are kept.
 */
export function resolveConflict(text, index, choice) {
  const block = findConflicts(text)[index];
  if (!block) throw new RangeError(`no conflict #${index}`);
  const chosen = {
    mine: block.mine,
    theirs: block.theirs,
    both: [...block.mine, ...block.theirs],
  }[choice];
  if (!chosen) throw new TypeError(`choice must be mine, theirs or both, not ${choice}`);
  const lines = splitLines(text);
  lines.splice(block.start, block.end - block.start + 1, ...chosen);
  return lines.join("\n");
}
