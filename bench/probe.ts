// Preloaded into the operator by bench/footprint.ts (`node --expose-gc --import ./bench/probe.ts dist/main.js`),
// so the operator itself needs no debug endpoint. It counts the connections undici opens (and which
// protocol TLS negotiated), and on SIGUSR2 writes process.memoryUsage() before and after a full GC to
// the file named by APISEC_PROBE_FILE.
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';
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

if (out) {
  process.on('SIGUSR2', () => {
    const before = process.memoryUsage();
    // Where heapTotal goes (MB reserved / used per V8 space), before the forced GC.
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((x) => [x.space_name, [+(x.space_size / 1048576).toFixed(1), +(x.space_used_size / 1048576).toFixed(1)]]));
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    const after = process.memoryUsage();
    writeFileSync(out, JSON.stringify({ at: Date.now(), before, afterGc: gc ? after : undefined, spaces, connections }));
  });
}
