// Host names other containers use to reach a service over HTTP. A compose
// service name may hold "_" (web_prod), which Docker's DNS resolves but which
// is not a valid host name (RFC 1034/1035): HTTP servers that check the Host
// header reject it (Django answers 400 to `Host: web_prod:8000` whatever
// ALLOWED_HOSTS says). Such a service gets a network alias with "-" in place
// of "_", and in-stack HTTP clients (Prometheus scrapes, blackbox probes) use it.
// No imports: every renderer may use this module.

/** The alias a service name needs, or undefined when the name is already a valid host name. */
export function hostAlias(name: string): string | undefined {
  if (!name.includes('_')) return undefined;
  return name.replace(/_/g, '-');
}

/** The host name in-stack HTTP clients use for a service: its alias when it has one. */
export function httpHost(name: string): string {
  return hostAlias(name) ?? name;
}

/**
 * Services whose alias would equal another service's name (web_prod next to
 * web-prod): that alias would make the name ambiguous in Docker's DNS.
 */
export function aliasClashes(names: string[]): { service: string; alias: string }[] {
  const taken = new Set(names);
  return names.flatMap((n) => {
    const a = hostAlias(n);
    return a !== undefined && taken.has(a) ? [{ service: n, alias: a }] : [];
  });
}
