// The stack's `images:` mapping (official repository -> local image), used by
// the renderers, the planners and the argv builders alike.

/** Apply the image mapping (official repository -> local image), any tag. */
export function mapImage(ref: string, images: Record<string, string>): string {
  if (images[ref]) return images[ref];
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const repo = colon > slash ? ref.slice(0, colon) : ref;
  return images[repo] ?? ref;
}
