// Line and blank handling shared by the workplan readers. Every helper is a single linear scan:
// a workplan file is untrusted input, and a backtracking pattern over it could stall the hub.

export interface Problem {
  /** 1-based; null for a problem of the whole file (too large, not UTF-8 text, a link out). */
  line: number | null;
  message: string;
}

/**
 * The lines of a text. CommonMark and YAML 1.2 end a line at "\r\n", "\r" or "\n" and nowhere
 * else: U+2028 and U+2029 are ordinary characters in both.
 */
export const splitLines = (text: string): string[] => text.split(/\r\n|\r|\n/);

/** A space or a tab: the only blanks CommonMark strips around a heading's or a list item's text. */
export const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** The text without leading and trailing spaces and tabs. */
export function trimBlanks(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isBlank(text[start])) start++;
  while (end > start && isBlank(text[end - 1])) end--;
  return text.slice(start, end);
}

/** The text without trailing spaces and tabs. */
export function trimEndBlanks(text: string): string {
  let end = text.length;
  while (end > 0 && isBlank(text[end - 1])) end--;
  return text.slice(0, end);
}

const QUOTE_CHARS = 40;

/** A piece of the file, quoted in a problem message: shortened, so a message stays one short sentence. */
export function quote(text: string): string {
  const chars = [...text.slice(0, QUOTE_CHARS * 2)];
  return `"${chars.length > QUOTE_CHARS ? `${chars.slice(0, QUOTE_CHARS).join('')}…` : text}"`;
}
