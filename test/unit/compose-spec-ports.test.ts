// Two services publishing the same host port (same address, port and
// protocol, or 0.0.0.0 beside any address) are a load error naming both
// places; different addresses or protocols are fine. Pure: no Docker.
import { describe, it, expect } from 'vitest';
import { loadStack } from '../../src/config/load.js';
import { hostPorts } from '../../src/config/checks.js';
import { ConfigError } from '../../src/errors.js';
import { writeStack } from '../fixtures/app-stack.js';

const ENV = { POSTGRES_PASSWORD: 'dummy-postgres-password-0123456789' };
const stackWith = (a: string[], b: string[]) => `name: shop
default_environment: local
services:
  api: { image: shop/api:1, ports: ${JSON.stringify(a)} }
  admin: { image: shop/admin:1, ports: ${JSON.stringify(b)} }
environments:
  local: {}
`;
function position(text: string, needle: string, nth = 1): string {
  let at = -1;
  for (let i = 0; i < nth; i++) at = text.indexOf(needle, at + 1);
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before[before.length - 1].length + 1}`;
}
function tryLoad(text: string): { file: string; error?: ConfigError } {
  const file = writeStack(text);
  try {
    loadStack({ file, processEnv: { ...ENV } });
    return { file };
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return { file, error: e as ConfigError };
  }
}

describe('one host port, one service', () => {
  it('the same address, port and protocol twice: both places named', () => {
    const text = stackWith(['127.0.0.1:8080:80'], ['127.0.0.1:8080:8000']);
    const { file, error } = tryLoad(text);
    expect(error?.exitCode).toBe(2);
    expect(error?.message).toBe(
      `${file}:${position(text, '"127.0.0.1:8080:8000"')}: services.admin.ports.0: host port 127.0.0.1:8080/tcp is already published by services.api.ports.0 (${file}:${position(text, '"127.0.0.1:8080:80"')}); valid: a host port no other service publishes on that address`,
    );
  });

  it('0.0.0.0 (no address) clashes with any address; a range overlapping a port clashes', () => {
    expect(tryLoad(stackWith(['8080:80'], ['127.0.0.1:8080:80'])).error?.message).toContain('host port 127.0.0.1:8080/tcp is already published by services.api.ports.0');
    expect(tryLoad(stackWith(['127.0.0.1:8080:80'], ['8080:80'])).error?.message).toContain('host port 0.0.0.0:8080/tcp is already published by services.api.ports.0');
    expect(tryLoad(stackWith(['127.0.0.1:9000-9010:9000-9010'], ['127.0.0.1:9005:80'])).error?.message).toContain('host port 127.0.0.1:9005/tcp');
  });

  it('other addresses, other protocols, container-only and any-free-port mappings do not clash', () => {
    expect(tryLoad(stackWith(['127.0.0.1:8080:80'], ['127.0.0.2:8080:80'])).error).toBeUndefined();
    expect(tryLoad(stackWith(['127.0.0.1:5353:53/udp'], ['127.0.0.1:5353:53'])).error).toBeUndefined();
    expect(tryLoad(stackWith(['80', '127.0.0.1::5432'], ['80', '127.0.0.1::5432'])).error).toBeUndefined();
  });

  it('hostPorts reads compose short syntax', () => {
    expect(hostPorts('127.0.0.1:8080:80')).toEqual([{ ip: '127.0.0.1', port: '8080/tcp' }]);
    expect(hostPorts('53:53/udp')).toEqual([{ ip: '0.0.0.0', port: '53/udp' }]);
    expect(hostPorts('80')).toEqual([]);
    expect(hostPorts('127.0.0.1::5432')).toEqual([]);
    expect(hostPorts('7000-7001:7000-7001')).toHaveLength(2);
  });
});
