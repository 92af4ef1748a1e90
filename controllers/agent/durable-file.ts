// Writing a small state file so that a crash (kill -9, power loss) leaves either the old or the
// new content, never an empty or half-written file: write a temporary file, fsync it, rename it
// over the target, fsync the directory so the rename itself is on disk.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writeFileDurably(path: string, content: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPath(dirname(path), 'r');
}

/** Removes a file and makes the removal durable (a restart must not bring it back). */
export function removeFileDurably(path: string): void {
  rmSync(path, { force: true });
  fsyncPath(dirname(path), 'r');
}
