// The one YAML serializer every renderer uses. YAML 1.1 rules for scalars,
// because compose v1 (PyYAML) and other consumers read `on`, `yes`, `0755`
// as booleans and octals: under 1.1 such strings are always quoted; so are
// those a 1.2 reader (compose v2) takes for numbers (0o755), see config/yaml-safe.ts.
import { Document } from 'yaml';
import { quoteAmbiguous } from '../config/yaml-safe.js';

export function toYaml(value: unknown, header?: string): string {
  const doc = quoteAmbiguous(new Document(value, { version: '1.1', sortMapEntries: false }));
  const body = doc.toString({ lineWidth: 0, indentSeq: true, singleQuote: false });
  return (header ? header.split('\n').map((l) => `# ${l}`.trimEnd()).join('\n') + '\n' : '') + body;
}
