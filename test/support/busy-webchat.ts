import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyExamples } from './bundle.js';

/**
 * The example bundle with bigcorp's webchat limits raised for load tests: every request of a
 * load test comes from 127.0.0.1, which the default per-address limit (5 a second) would refuse.
 */
export function busyWebchatBundle(): { dir: string; cleanup: () => void } {
  const b = copyExamples();
  const file = join(b.dir, 'bundle.yaml');
  const yaml = readFileSync(file, 'utf8');
  const raised = yaml.replace(
    '      limits:\n        deadline_ms: 1000\n',
    '      webchat: { rate_per_sec: 100000, burst: 100000, address_rate_per_sec: 100000, address_burst: 100000 }\n      limits:\n        deadline_ms: 1000\n',
  );
  if (raised === yaml) throw new Error('examples/bundle.yaml no longer has bigcorp settings.limits where this expects them');
  writeFileSync(file, raised);
  return b;
}
