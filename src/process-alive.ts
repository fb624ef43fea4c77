/** Whether a process is still there (one of another user's counts as there): for locks and scratch folders a killed keel left. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
