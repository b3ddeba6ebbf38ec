// A client-side limit on requests per second, as client-go's token bucket (--kube-api-qps and
// --kube-api-burst, as kube-controller-manager names them): `burst` requests may go at once, then `qps`
// per second. Each request reserves the next token in call order (waiting for it if the bucket is empty),
// so a flood of reconciles cannot push the API server beyond what the operator was allowed. Watches
// are not limited (they are long-lived, one per informer).

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly qps: number;
  private readonly burst: number;
  private readonly now: () => number;

  constructor(qps: number, burst: number, now: () => number = () => performance.now()) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error('a token bucket needs qps > 0 and burst ≥ 1');
    this.qps = qps;
    this.burst = burst;
    this.now = now;
    this.tokens = burst;
    this.last = now();
  }

  /** Takes a token; returns how long (ms) the caller must wait before its request (0: go now). */
  reserve(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.qps) / 1000);
    this.last = now;
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  /** Waits for a token. */
  async take(): Promise<void> {
    const wait = this.reserve();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}
