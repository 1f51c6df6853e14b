// alertmanager/alertmanager.yml: routing by severity and environment.
// Secrets never reach the file: the Slack webhook URL and the PagerDuty
// routing key are read by Alertmanager from files under
// /etc/alertmanager/secrets (global.slack_api_url_file and
// pagerduty_configs[].routing_key_file, both accepted by amtool 0.25, checked
// in test/render-monitoring.test.ts). The deploy flow writes those files.
import path from 'node:path';
import type { Monitoring, Stack } from '../config/schema.js';
import { toYaml } from './yaml.js';

export const ALERTMANAGER_SECRETS_DIR = '/etc/alertmanager/secrets';
/** Files the deploy flow must write into ./alertmanager/secrets (name -> where the value comes from). */
export function alertmanagerSecretFiles(mon: Monitoring): { file: string; from: string }[] {
  const out: { file: string; from: string }[] = [];
  if (mon.alertmanager.slack_webhook_url !== undefined) out.push({ file: 'slack_webhook_url', from: 'monitoring.alertmanager.slack_webhook_url' });
  if (mon.alertmanager.pagerduty_routing_key !== undefined) out.push({ file: 'pagerduty_routing_key', from: 'monitoring.alertmanager.pagerduty_routing_key' });
  return out;
}

const isProduction = (envName: string, overlay: { production?: boolean } | undefined) =>
  typeof overlay?.production === 'boolean' ? overlay.production : envName === 'production';

/** Names of the stack's non-production environments (the one rendered included), sorted. */
export function nonProductionEnvironments(stack: Stack): string[] {
  const names = new Set<string>();
  for (const [name, overlay] of Object.entries(stack.environments ?? {})) if (!isProduction(name, overlay as { production?: boolean })) names.add(name);
  if (!stack.production) names.add(stack.env);
  else names.delete(stack.env);
  return [...names].sort();
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const SLACK_TITLE = '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} ({{ .CommonLabels.environment }})';
const SLACK_TEXT = '{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n{{ end }}';

export function alertmanagerConfig(stack: Stack, mon: Monitoring): Record<string, unknown> {
  const am = mon.alertmanager;
  const hasSlack = am.slack_webhook_url !== undefined;
  const hasPager = am.pagerduty_routing_key !== undefined;
  const nonprodChannel = am.slack_channel_nonproduction ?? `${am.slack_channel}-nonprod`;

  const global: Record<string, unknown> = { resolve_timeout: '5m' };
  if (hasSlack) global.slack_api_url_file = `${ALERTMANAGER_SECRETS_DIR}/slack_webhook_url`;

  const slack = (name: string, channel: string) => ({
    name,
    // Without a webhook URL the receiver has no integration: alerts are routed, never sent.
    ...(hasSlack ? { slack_configs: [{ channel, send_resolved: true, title: SLACK_TITLE, text: SLACK_TEXT }] } : {}),
  });
  const receivers: Record<string, unknown>[] = [slack('slack', am.slack_channel), slack('slack-nonproduction', nonprodChannel)];
  if (hasPager) {
    receivers.push({
      name: 'pagerduty',
      pagerduty_configs: [
        {
          routing_key_file: `${ALERTMANAGER_SECRETS_DIR}/pagerduty_routing_key`,
          send_resolved: true,
          severity: 'critical',
          description: '{{ .CommonLabels.alertname }} ({{ .CommonLabels.environment }}): {{ .CommonAnnotations.summary }}',
        },
      ],
    });
  }

  const routes: Record<string, unknown>[] = [];
  const nonprod = nonProductionEnvironments(stack);
  // Non-production environments never page: everything goes to their own channel.
  if (nonprod.length) routes.push({ receiver: 'slack-nonproduction', matchers: [`environment=~"${nonprod.map(escapeRegex).join('|')}"`] });
  if (hasPager) routes.push({ receiver: 'pagerduty', matchers: ['severity="critical"'], continue: true });
  routes.push({ receiver: 'slack', matchers: ['severity="critical"'] });
  routes.push({ receiver: 'slack', matchers: ['severity="warning"'] });

  return {
    global,
    route: {
      receiver: 'slack',
      group_by: ['alertname', 'environment', 'severity'],
      group_wait: am.group_wait,
      group_interval: am.group_interval,
      repeat_interval: am.repeat_interval,
      routes,
    },
    inhibit_rules: [
      // A critical alert mutes the warnings of its family (WebDown mutes HighErrorRate ...).
      { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['family', 'environment'] },
      // The same alert at both severities on one instance: keep the critical one.
      { source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: ['alertname', 'environment', 'instance'] },
    ],
    receivers,
  };
}

export function renderAlertmanagerConfig(stack: Stack, mon: Monitoring): string {
  const secrets = alertmanagerSecretFiles(mon);
  const lines = [
    `Alertmanager configuration for stack ${stack.name}.`,
    `Rendered by lifeops from ${path.basename(stack.file)} (environment ${stack.env}). Do not edit: run \`lifeops render\`.`,
    secrets.length
      ? `Secrets are read from files in ${ALERTMANAGER_SECRETS_DIR} (./alertmanager/secrets, written by lifeops deploy): ${secrets.map((s) => s.file).join(', ')}.`
      : 'No Slack webhook or PagerDuty key configured: alerts are routed but not sent.',
  ];
  return toYaml(alertmanagerConfig(stack, mon), lines.join('\n'));
}
