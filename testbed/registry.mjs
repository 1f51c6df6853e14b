#!/usr/bin/env node
// lifeops test registry: the read side of the Docker Registry HTTP API v2
// (GET/HEAD /v2/, /v2/<name>/manifests/<ref>, /v2/<name>/blobs/<digest>),
// served over plain HTTP on 127.0.0.1 from a folder, so tests can pull an image
// on a machine that reaches no registry. The engine treats 127.0.0.0/8 as an
// insecure registry, so `docker pull 127.0.0.1:PORT/NAME:TAG` works over HTTP.
//
//   node testbed/registry.mjs make DIR          write the images into DIR (idempotent); prints their
//                                               layer and config blobs (digest, size) as JSON
//   node testbed/registry.mjs serve DIR [PORT]  serve DIR (PORT 0 or none: any free port);
//                                               prints "listening 127.0.0.1:PORT", then one
//                                               line per request ("GET /v2/... 200")
//
// The image (`lifeops-test/tiny:1`) is one gzipped layer holding Debian's static
// busybox (package busybox-static, testbed/setup.sh), whose shell loops on
// `sleep 1` and exits on SIGTERM. Tag 1 is a manifest list, as official images
// are: linux/amd64 is the real image; linux/arm64 names a manifest whose one
// layer claims 5 GiB (its blob does not exist), so a client that picked the
// wrong platform would get a wildly wrong size. `lifeops-test/large:1` is a
// single manifest claiming 2 GiB whose big layer is not stored (never pulled).
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const IMAGE = 'lifeops-test/tiny';
export const TAG = '1';
export const LARGE = 'lifeops-test/large';
const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json';
const LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const CONFIG = 'application/vnd.docker.container.image.v1+json';
const LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const BUSYBOX = '/bin/busybox';

const sha256 = (buf) => 'sha256:' + createHash('sha256').update(buf).digest('hex');
const blobPath = (dir, digest) => path.join(dir, 'blobs', digest.replace(':', '/'));

/** Store bytes as a blob; the catalog remembers a manifest's media type by digest. */
function putBlob(dir, bytes, catalog, mediaType) {
  const digest = sha256(bytes);
  mkdirSync(path.dirname(blobPath(dir, digest)), { recursive: true });
  writeFileSync(blobPath(dir, digest), bytes);
  if (mediaType) catalog.manifests[digest] = mediaType;
  return { digest, size: bytes.length };
}

/** The layer: bin/busybox with sh and sleep linked to it, as a reproducible tar (fixed owner and mtime). */
function layerTar() {
  if (!existsSync(BUSYBOX) || !/statically linked/.test(execFileSync('file', ['-L', BUSYBOX], { encoding: 'utf8' }))) {
    throw new Error(`${BUSYBOX} is not a static busybox: apt-get install -y busybox-static (testbed/setup.sh)`);
  }
  const root = mkdtempSync(path.join(os.tmpdir(), 'lifeops-registry-layer-'));
  try {
    mkdirSync(path.join(root, 'bin'));
    copyFileSync(BUSYBOX, path.join(root, 'bin', 'busybox'));
    for (const tool of ['sh', 'sleep']) symlinkSync('busybox', path.join(root, 'bin', tool));
    return execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-C', root, '-cf', '-', 'bin'], { maxBuffer: 64 << 20 });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

export function make(dir) {
  const catalog = { tags: {}, manifests: {} };
  const tar = layerTar();
  const layer = putBlob(dir, gzipSync(tar, { level: 9 }), catalog);
  const config = putBlob(
    dir,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done"], Labels: { 'lifeops.test': 'registry' } },
        rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'testbed/registry.mjs' }],
      }),
    ),
    catalog,
  );
  const manifest = (cfg, layers) => Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: SCHEMA2, config: { mediaType: CONFIG, ...cfg }, layers: layers.map((l) => ({ mediaType: LAYER, ...l })) }));
  const amd64 = putBlob(dir, manifest(config, [layer]), catalog, SCHEMA2);
  // a platform no test engine runs: its layer blob is never stored
  const bogusLayer = { digest: sha256(Buffer.from('arm64 layer that does not exist')), size: 5 * 1024 ** 3 };
  const arm64 = putBlob(dir, manifest(config, [bogusLayer]), catalog, SCHEMA2);
  const list = putBlob(
    dir,
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: LIST,
        manifests: [
          { mediaType: SCHEMA2, ...arm64, platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
          { mediaType: SCHEMA2, ...amd64, platform: { architecture: 'amd64', os: 'linux' } },
        ],
      }),
    ),
    catalog,
    LIST,
  );
  catalog.tags[`${IMAGE}:${TAG}`] = list.digest;
  // a plain (single-platform) manifest that claims 2 GiB: the room check's
  // refusal is tested with it; its big layer is not stored, so a pull of it
  // would fail, and no test pulls it
  const large = putBlob(dir, manifest(config, [layer, { digest: sha256(Buffer.from('2 GiB layer that is not stored')), size: 2 * 1024 ** 3 }]), catalog, SCHEMA2);
  catalog.tags[`${LARGE}:${TAG}`] = large.digest;
  writeFileSync(path.join(dir, 'catalog.json'), JSON.stringify(catalog, null, 2) + '\n');
  return { image: `${IMAGE}:${TAG}`, large: `${LARGE}:${TAG}`, layer, config, largeBytes: 2 * 1024 ** 3, amd64: amd64.digest, list: list.digest };
}

function serve(dir, port) {
  const catalog = JSON.parse(readFileSync(path.join(dir, 'catalog.json'), 'utf8'));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://registry');
    const send = (status, headers, body) => {
      res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
      console.log(`${req.method} ${url.pathname} ${status}`);
    };
    const unknown = (code, what) => {
      const body = JSON.stringify({ errors: [{ code, message: `${what} unknown`, detail: url.pathname }] });
      send(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }, body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { 'Content-Length': 0 }, '');
    if (url.pathname === '/v2/' || url.pathname === '/v2') return send(200, { 'Content-Type': 'application/json', 'Content-Length': 2 }, '{}');
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return unknown('NAME_UNKNOWN', 'repository');
    const [, name, kind, ref] = m;
    const digest = kind === 'manifests' && !ref.startsWith('sha256:') ? catalog.tags[`${name}:${ref}`] : ref;
    const file = /^sha256:[0-9a-f]{64}$/.test(digest ?? '') ? blobPath(dir, digest) : undefined;
    const isManifest = Boolean(digest && catalog.manifests[digest]);
    if (!file || !existsSync(file) || (kind === 'manifests') !== isManifest) return unknown(kind === 'manifests' ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', kind === 'manifests' ? 'manifest' : 'blob');
    const type = kind === 'manifests' ? catalog.manifests[digest] : 'application/octet-stream';
    send(200, { 'Content-Type': type, 'Content-Length': statSync(file).size, 'Docker-Content-Digest': digest }, readFileSync(file));
  });
  server.listen(port, '127.0.0.1', () => console.log(`listening 127.0.0.1:${server.address().port}`));
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
}

const [cmd, dir, port] = process.argv.slice(2);
if (cmd === 'make' && dir) {
  mkdirSync(dir, { recursive: true });
  console.log(JSON.stringify(make(dir)));
} else if (cmd === 'serve' && dir) {
  serve(dir, Number(port ?? 0));
} else {
  console.error('usage: node testbed/registry.mjs make DIR | serve DIR [PORT]');
  process.exit(2);
}
