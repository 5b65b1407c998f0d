// k6/metrics for the emulator: every sample is kept in this runtime and handed to the
// emulator at the end, which aggregates them as k6's summary does.
export type Kind = 'counter' | 'gauge' | 'trend' | 'rate';
export interface Sample {
  name: string;
  kind: Kind;
  value: number;
}

export const samples: Sample[] = [];

class Metric {
  readonly #name: string;
  readonly #kind: Kind;
  constructor(name: string, kind: Kind) {
    this.#name = name;
    this.#kind = kind;
  }
  add(value: number | boolean): void {
    samples.push({ name: this.#name, kind: this.#kind, value: Number(value) });
  }
}

export class Counter extends Metric {
  constructor(name: string) {
    super(name, 'counter');
  }
}
export class Gauge extends Metric {
  constructor(name: string) {
    super(name, 'gauge');
  }
}
export class Trend extends Metric {
  constructor(name: string) {
    super(name, 'trend');
  }
}
export class Rate extends Metric {
  constructor(name: string) {
    super(name, 'rate');
  }
}
