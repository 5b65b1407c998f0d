// k6's `sleep` blocks the VU; so does this one (the emulator runs each blocking VU in its own thread).
export function sleep(seconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, seconds * 1000);
}

export function fail(message: string): never {
  throw new Error(message);
}
