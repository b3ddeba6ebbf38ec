// Preloaded into the operator by bench/footprint.ts and bench/scale.ts (`node --expose-gc --import
// ./bench/probe.ts dist/main.js`), so the operator itself needs no debug endpoint. It counts the
// connections undici opens (and which protocol TLS negotiated), samples the event-loop delay, and on
// SIGUSR2 writes process.memoryUsage() before and after a full GC (none with APISEC_PROBE_GC=0: the scale
// benchmark probes mid-run and reports memory as it is), the CPU time and the event-loop delay since the
// last probe (then resets it) to the file named by APISEC_PROBE_FILE.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

const out = process.env.APISEC_PROBE_FILE;
const connections = { opened: 0, failed: 0, byProtocol: {} as Record<string, number> };

subscribe('undici:client:connected', (msg) => {
  connections.opened++;
  const socket = (msg as { socket?: { alpnProtocol?: string | false } }).socket;
  const proto = socket?.alpnProtocol || 'none';
  connections.byProtocol[proto] = (connections.byProtocol[proto] ?? 0) + 1;
});
subscribe('undici:client:connectError', () => connections.failed++);

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
const ms = (ns: number): number => +(ns / 1e6).toFixed(1);
const gcOnProbe = process.env.APISEC_PROBE_GC !== '0';

if (out) {
  process.on('SIGUSR2', () => {
    const before = process.memoryUsage();
    const eventLoop = { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max), mean: ms(loop.mean), samples: loop.count };
    loop.reset();
    // Where heapTotal goes (MB reserved / used per V8 space), before the forced GC.
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, [+(x.space_size / 1048576).toFixed(1), +(x.space_used_size / 1048576).toFixed(1)]]));
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gcOnProbe) {
      gc?.();
      gc?.();
    }
    const after = gcOnProbe && gc ? process.memoryUsage() : undefined;
    writeFileSync(out, JSON.stringify({ at: Date.now(), before, afterGc: after, spaces, connections, eventLoop, cpu: process.cpuUsage(), uptime: process.uptime() }));
  });
}
