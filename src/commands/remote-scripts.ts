// The few shell scripts lifeops runs on a remote server (issue 26), fixed
// text whose inputs arrive as positional words (quoted by commands/ssh.ts)
// or on stdin (bundles, secret values): nothing the stack says is ever
// pasted into a script.
import { remoteScript } from './ssh.js';

/** The server's folders for one environment, under its state root. */
export const serverEnvRoot = (root: string, project: string) => `${root.replace(/\/+$/, '')}/${project}`;

/**
 * Receive a release bundle on stdin: keep it only if its sha256 is the one
 * announced, unpack it into releases/<id>, then point `current` at it with
 * one rename (a reader sees the old release or the new one, never a mix).
 * The nginx front's fixed folder is then brought to the release's nginx
 * files (the front reads them when the flow reloads it, as it reads the
 * render folder on one host). Prints the folder `current` resolves to.
 * A release sent again (a failed deploy's undo, a rollback that published
 * before starting the datastores) may be what a running container
 * bind-mounted (the front's nginx folder): the same files are kept as they
 * are; different ones send the old folder aside, never delete it under the
 * container.
 */
const PUBLISH = `set -eu
root=$1; id=$2; sum=$3; front=\${4:-}
umask 022
mkdir -p "$root/releases"
tmp=$(mktemp -d "$root/releases/.incoming-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/bundle.tar"
printf '%s  %s\\n' "$sum" "$tmp/bundle.tar" | sha256sum -c --status || { echo "bundle digest mismatch: the bundle was damaged on the way" >&2; exit 3; }
mkdir "$tmp/files"
tar -xf "$tmp/bundle.tar" -C "$tmp/files"
# (the secret files are not in the bundle: they are written after it, whichever folder is kept)
if [ -d "$root/releases/$id" ] && diff -r -x secrets "$tmp/files" "$root/releases/$id" >/dev/null 2>&1; then
  :
else
  if [ -e "$root/releases/$id" ]; then mv "$root/releases/$id" "$root/releases/.replaced-$id-$$"; fi
  mv "$tmp/files" "$root/releases/$id"
fi
ln -sfn "releases/$id" "$root/.current-$$"
mv -T "$root/.current-$$" "$root/current"
# the nginx front mounts a fixed folder: bring it to this release's files, each
# one renamed into place when it differs; maintenance/ is not the release's
src="$root/releases/$id/nginx"
if [ -n "$front" ] && [ -d "$src" ]; then
  mkdir -p "$front"; chmod 755 "$front"
  (cd "$src" && find . -mindepth 1 -type d) | while IFS= read -r d; do mkdir -p "$front/$d"; chmod 755 "$front/$d"; done
  (cd "$src" && find . ! -type d) | while IFS= read -r f; do
    cmp -s "$src/$f" "$front/$f" || { cp "$src/$f" "$front/$f.lifeops-new" && chmod 644 "$front/$f.lifeops-new" && mv -f "$front/$f.lifeops-new" "$front/$f"; }
  done
  (cd "$front" && find . -mindepth 1 -path ./maintenance -prune -o -print) | while IFS= read -r f; do
    [ -e "$src/$f" ] || rm -rf "$front/$f"
  done
fi
readlink -f "$root/current"`;

/** `frontDir`: the fixed folder the nginx front mounts (config/remote-schema.ts), brought to the release's nginx files; empty: none. */
export const publishBundle = (envRoot: string, releaseId: string, sha256: string, frontDir = '') => remoteScript(PUBLISH, [envRoot, releaseId, sha256, frontDir]);

/**
 * Hold the environment's lock on the server for as long as stdin stays open:
 * the lock belongs to this ssh session, so an operator that dies or loses its
 * connection lets go of it (sshd closes the session, `cat` ends). Prints
 * "locked" once held; on a timeout, the holder and exit 75.
 */
const LOCK = `set -eu
dir=$1; name=$2; holder=$3; wait_s=$4
mkdir -p "$dir"; chmod 700 "$dir"
exec 9>>"$dir/$name.lock"
if ! flock -n 9; then
  printf 'waiting for %s\\n' "$(cat "$dir/$name.holder" 2>/dev/null || echo unknown)" >&2
  flock -w "$wait_s" 9 || { printf 'held by %s\\n' "$(cat "$dir/$name.holder" 2>/dev/null || echo unknown)"; exit 75; }
fi
printf '%s\\n' "$holder" > "$dir/$name.holder"
echo locked
cat >/dev/null
rm -f "$dir/$name.holder"`;

export const holdLock = (locksDir: string, name: string, holder: string, waitSeconds: number) => remoteScript(LOCK, [locksDir, name, holder, String(waitSeconds)]);

/** A secret value from stdin into a 0600 file (its folder 0700): never a command-line word. */
const SECRET = `set -eu
umask 077
mkdir -p "$(dirname "$1")"
cat > "$1.tmp"
mv "$1.tmp" "$1"`;

export const writeSecretFile = (file: string) => remoteScript(SECRET, [file]);

/** Whether a TCP port is listened on, on the server: prints "busy" or "free" ("free" when ss is missing: compose then reports a clash itself). */
const PORT_PROBE = `if command -v ss >/dev/null 2>&1 && [ -n "$(ss -Hltn "sport = :$1")" ]; then echo busy; else echo free; fi`;

export const probePort = (port: number) => remoteScript(PORT_PROBE, [String(port)]);

/**
 * Maintenance mode on the server, in the folder the nginx front mounts
 * (render/maintenance.ts says how nginx reads it). With a state folder name:
 * its files arrive as a tar on stdin (the message never on a command line),
 * land under a temporary name, are renamed into place, and a fresh `active`
 * symlink is renamed over the old one. Without: `active` is unlinked. Files
 * 0644 and folders 0755: the front's nginx workers read them. Folders no
 * longer active are removed after a minute (a request may still read one).
 */
const MAINTENANCE = `set -eu
front=$1; folder=$2
dir="$front/maintenance"
umask 022
mkdir -p "$dir"; chmod 755 "$dir"
if [ -n "$folder" ]; then
  case "$folder" in *[!A-Za-z0-9-]*) echo "bad maintenance folder name" >&2; exit 2;; esac
  tmp="$dir/.tmp-$folder-$$"
  rm -rf "$tmp"; mkdir "$tmp"
  tar -xf - -C "$tmp" --no-same-owner --no-same-permissions
  find "$tmp" -type d -exec chmod 755 {} +
  find "$tmp" -type f -exec chmod 644 {} +
  rm -rf "$dir/$folder"; mv "$tmp" "$dir/$folder"
  ln -sfn "$folder" "$dir/.link-$$"
  mv -T "$dir/.link-$$" "$dir/active"
else
  cat >/dev/null
  rm -f "$dir/active"
fi
find "$dir" -mindepth 1 -maxdepth 1 -name 'r-*' ! -name "$folder" -mmin +1 -exec rm -rf {} +`;

/** Turn the server's maintenance page on (`folder`: the state folder whose tar follows on stdin) or off (`folder` empty). */
export const switchMaintenance = (frontDir: string, folder: string) => remoteScript(MAINTENANCE, [frontDir, folder]);
