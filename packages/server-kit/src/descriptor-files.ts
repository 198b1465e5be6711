import type { DescFile } from "@bufbuild/protobuf";

/**
 * The files and everything they import, each once, dependencies first: what reflection serves
 * for a file, on either runtime.
 */
export function dependencyClosure(files: readonly DescFile[]): DescFile[] {
  const ordered: DescFile[] = [];
  const seen = new Set<string>();
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    file.dependencies.forEach(visit);
    ordered.push(file);
  };
  files.forEach(visit);
  return ordered;
}
