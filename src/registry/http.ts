/**
 * HTTP for registries and ADD URLs, through a proxy where the settings name one, as Go's
 * http.ProxyFromEnvironment (BuildKit's, and docker's) picks it: HTTPS_PROXY for https URLs,
 * HTTP_PROXY for http ones, NO_PROXY's hosts and domains (`*` for all) and loopback hosts always
 * direct. Node's own fetch ignores proxy variables; undici's EnvHttpProxyAgent speaks to the proxy
 * (CONNECT for https). undici is loaded only when a proxy is set (it costs ~80 ms to load).
 */

/** Proxy settings (from HTTP_PROXY, HTTPS_PROXY, NO_PROXY or their lower-case forms; builder/host.ts reads them). */
export interface ProxySettings {
  readonly httpProxy?: string;
  readonly httpsProxy?: string;
  readonly noProxy?: string;
}

export type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** The proxy variables of an environment, upper case first (Go reads HTTP_PROXY, then http_proxy). */
export function proxyFromEnv(env: NodeJS.ProcessEnv): ProxySettings | undefined {
  const get = (name: string): string | undefined => env[name] || env[name.toLowerCase()] || undefined;
  const httpProxy = get('HTTP_PROXY');
  const httpsProxy = get('HTTPS_PROXY');
  const noProxy = get('NO_PROXY');
  if (httpProxy === undefined && httpsProxy === undefined) return undefined;
  return { ...(httpProxy === undefined ? {} : { httpProxy }), ...(httpsProxy === undefined ? {} : { httpsProxy }), ...(noProxy === undefined ? {} : { noProxy }) };
}

/** localhost and loopback addresses: never through a proxy (Go's useProxy). */
function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  // (no node:net here: loading it costs every build a few ms)
  if (/^127(\.\d{1,3}){3}$/.test(h)) return true;
  return h === '::1' || h === '0:0:0:0:0:0:0:1';
}

/** A fetch that goes through the proxy the settings give for each URL (plain fetch without settings). */
export function proxiedFetch(proxy: ProxySettings | undefined): Fetch {
  if (proxy === undefined) return fetch;
  let through: Fetch | undefined;
  const viaProxy = (): Fetch => {
    // loaded here, not at the top: only builds behind a proxy pay for it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const undici = require('undici') as typeof import('undici');
    // '' for a setting not given: undici would read the environment's own otherwise, and the
    // settings are the whole truth here. proxyTunnel false: an http URL goes to an http proxy as a
    // plain request (Go's client does that; proxies often allow CONNECT to port 443 only)
    const dispatcher = new undici.EnvHttpProxyAgent({
      httpProxy: proxy.httpProxy ?? '', httpsProxy: proxy.httpsProxy ?? '', noProxy: proxy.noProxy ?? '', proxyTunnel: false,
    } as ConstructorParameters<typeof undici.EnvHttpProxyAgent>[0]);
    return (url, init) => undici.fetch(url, { ...(init as Parameters<typeof undici.fetch>[1]), dispatcher }) as unknown as Promise<Response>;
  };
  return async (url, init) => {
    if (isLoopback(new URL(url).hostname)) return fetch(url, init);
    through ??= viaProxy();
    return through(url, init);
  };
}
