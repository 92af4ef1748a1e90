// The parts of images/*/Dockerfile that tools read: stages with their COPY and RUN instructions.
// One parser for the Dockerfile tests (test/install/dockerfiles.test.ts) and the image size
// measurement (hack/image-size.ts), so both see the same file list the final stage copies.

export interface DockerCopy {
  /** `--from=<stage>`; undefined: from the build context (the repository root) */
  from?: string;
  sources: string[];
  dest: string;
}

export interface DockerStage {
  name?: string;
  workdir?: string;
  copies: DockerCopy[];
  runs: string[];
}

/** The stages of a Dockerfile with their COPY and RUN instructions (continuations joined). */
export function parseDockerfile(text: string): DockerStage[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const [instr, ...rest] = line.split(/\s+/);
    const op = instr!.toUpperCase();
    if (op === 'FROM') stages.push({ name: /\bAS\s+(\S+)/i.exec(line)?.[1], copies: [], runs: [] });
    else if (op === 'WORKDIR') stages.at(-1)!.workdir = rest.join(' ');
    else if (op === 'COPY' || op === 'ADD') {
      const flags = rest.filter((a) => a.startsWith('--'));
      const args = rest.filter((a) => !a.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      stages.at(-1)!.copies.push({ from, sources: args.slice(0, -1), dest: args.at(-1)! });
    } else if (op === 'RUN') stages.at(-1)!.runs.push(rest.join(' '));
  }
  return stages;
}
