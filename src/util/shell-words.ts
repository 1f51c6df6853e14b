// Splitting a command string into words, as compose splits a `command:` string
// (shell quoting, no expansion). Pure.

/** Words of a command string as compose splits it (shell quoting, no expansion). */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  let cur: string | undefined;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (/\s/.test(ch)) {
      if (cur !== undefined) words.push(cur);
      cur = undefined;
    } else if (ch === "'" || ch === '"') {
      let end = i + 1;
      // inside double quotes a backslash escapes the quote
      while (end < s.length && s[end] !== ch) end += ch === '"' && s[end] === '\\' ? 2 : 1;
      if (end >= s.length) end = -1;
      const inner = s.slice(i + 1, end < 0 ? s.length : end);
      cur = (cur ?? '') + (ch === '"' ? inner.replace(/\\(["\\$`])/g, '$1') : inner);
      i = end < 0 ? s.length : end;
    } else if (ch === '\\' && i + 1 < s.length) cur = (cur ?? '') + s[++i];
    else cur = (cur ?? '') + ch;
  }
  if (cur !== undefined) words.push(cur);
  return words;
}
