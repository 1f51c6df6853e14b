// Deploy notifications, pure: the Slack and webhook payloads, masking, URL handling.
import { describe, it, expect } from 'vitest';
import { failureReason, notificationBody, payloadFor, urlHost, type DeployEvent } from '../../src/flows/notify.js';
import { Redactor } from '../../src/util/redact.js';

const ev: DeployEvent = { env: 'staging', project: 'shop-staging', version: 'v7', outcome: 'rolled-back', run_id: '20261124T180000Z-a1b2c3', duration_ms: 61_400, user: 'ops', message: 'deploy of version v7 failed: <web> & co' };

describe('notification payloads (pure)', () => {
  it('webhook: the event fields as JSON, plus a one-line text', () => {
    const p = payloadFor('webhook', ev) as Record<string, unknown>;
    expect(p).toMatchObject({ event: 'deploy', env: 'staging', project: 'shop-staging', version: 'v7', outcome: 'rolled-back', run_id: ev.run_id, duration_ms: 61_400, user: 'ops', message: ev.message });
    expect(p.text).toBe(`lifeops deploy shop-staging (staging) version v7: rolled-back in 61s by ops (run ${ev.run_id})\n${ev.message}`);
  });

  it('slack: text fallback and blocks, with &, < and > escaped as Slack requires', () => {
    const p = payloadFor('slack', ev) as { text: string; blocks: { type: string; text?: { type: string; text: string }; elements?: { text: string }[] }[] };
    expect(p.text).toMatch(/^:leftwards_arrow_with_hook: lifeops deploy shop-staging \(staging\) version v7: rolled-back/);
    expect(p.text).toContain('&lt;web&gt; &amp; co');
    expect(p.text).not.toContain('<web>');
    expect(p.blocks.map((b) => b.type)).toEqual(['section', 'context']);
    expect(p.blocks[0].text).toMatchObject({ type: 'mrkdwn', text: expect.stringContaining('*rolled-back*') });
    expect(p.blocks[1].elements![0].text).toContain(ev.run_id);
    expect((payloadFor('slack', { ...ev, outcome: 'success', message: undefined }) as { text: string }).text).toMatch(/^:white_check_mark: /);
    expect((payloadFor('slack', { ...ev, outcome: 'failed' }) as { text: string }).text).toMatch(/^:x: /);
  });

  it('the body masks secret values wherever they appear', () => {
    const redactor = Redactor.forVars({ POSTGRES_PASSWORD: 'pw-Zq8d0vP2-long', APP: 'x' }, []);
    for (const type of ['slack', 'webhook'] as const) {
      const body = notificationBody(type, { ...ev, message: 'psql: password pw-Zq8d0vP2-long rejected; url postgresql://u:pw-Zq8d0vP2-long@db/x' }, redactor);
      expect(body).not.toContain('pw-Zq8d0vP2-long');
      expect(body).toContain('***');
      expect(() => JSON.parse(body)).not.toThrow();
    }
  });

  it('logs a URL by its host only, and says why a POST failed without the URL', () => {
    expect(urlHost('https://hooks.slack.com/services/T0/B0/abcSECRET')).toBe('hooks.slack.com');
    expect(urlHost('http://127.0.0.1:9999/hook?token=abc')).toBe('127.0.0.1:9999');
    expect(urlHost('not a url ?token=abc')).toBe('(invalid URL)');
    expect(failureReason(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'http://h/x', 5000)).toBe('no answer within 5s');
    const url = 'http://[bad/hook?token=s3cr3t-token';
    const reason = failureReason(new TypeError(`Failed to parse URL from ${url}`), url, 5000);
    expect(reason).not.toContain('s3cr3t-token');
    expect(failureReason(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'http://h/x', 5000)).toBe('fetch failed: ECONNREFUSED');
  });
});

