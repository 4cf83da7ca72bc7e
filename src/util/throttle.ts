/**
 * Rate-limits a reporting callback: the first event is passed on at once, later ones at most once per
 * `intervalMs`, each call told how many events it stands for. A peer can provoke refusals for a few bytes each;
 * the log must not grow at that rate.
 */
export function throttle<A extends unknown[]>(
  intervalMs: number,
  emit: (count: number, ...args: A) => void,
): (...args: A) => void {
  let last = -Infinity;
  let count = 0;
  return (...args: A) => {
    count++;
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    const n = count;
    count = 0;
    emit(n, ...args);
  };
}
