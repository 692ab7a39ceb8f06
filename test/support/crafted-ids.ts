/** Ids every entry point must refuse, with words the refusal must contain. */
export const CRAFTED_IDS: Array<[string, string]> = [
  ['../bigcorp', 'contains "."'],
  ['acme.prod', 'contains "."'],
  ['acme:x', 'contains ":"'],
  ['*', 'contains "*"'],
  ['>', 'contains ">"'],
  ['ACME', 'upper-case'],
  ['', 'empty'],
  ['a'.repeat(64), '64 characters long'],
  ['acme/x', 'contains "/"'],
  ['acme x', 'whitespace'],
  ['-acme', 'must start with a letter or digit'],
  ['acme\n', 'whitespace'],
  ['acme\u0000', 'control character'],
];
