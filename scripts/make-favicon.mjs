#!/usr/bin/env node
// Writes packages/servicenow/assets/favicon.ico: a 32×32, 32-bit icon (a white anchor-ring "h" on teal), drawn
// pixel by pixel so that it needs no image tool. Run it again only to change the icon.
import { writeFileSync } from 'node:fs';

const N = 32;
const teal = [0x0f, 0x76, 0x6e, 0xff]; // BGRA order is applied below
const white = [0xff, 0xff, 0xff, 0xff];
const clear = [0, 0, 0, 0];
function pixel(x, y) {
  const cx = x - 15.5, cy = y - 15.5;
  const r = Math.hypot(cx, cy);
  if (r > 15.5) return clear; // round badge
  const stem = x >= 9 && x <= 12 && y >= 6 && y <= 25;
  const arch = y >= 14 && y <= 25 && ((x >= 19 && x <= 22) || (y <= 17 && x >= 9 && x <= 22 && Math.hypot(x - 16, y - 18) <= 7 && Math.hypot(x - 16, y - 18) >= 3.5));
  return stem || arch ? white : teal;
}
const header = Buffer.alloc(6 + 16);
header.writeUInt16LE(0, 0); header.writeUInt16LE(1, 2); header.writeUInt16LE(1, 4);
const xorBytes = N * N * 4;
const andBytes = (N / 8) * N; // 1 bit a pixel, rows padded to 4 bytes (32 px = 4 bytes)
const bmpHeader = Buffer.alloc(40);
bmpHeader.writeUInt32LE(40, 0); bmpHeader.writeInt32LE(N, 4); bmpHeader.writeInt32LE(N * 2, 8);
bmpHeader.writeUInt16LE(1, 12); bmpHeader.writeUInt16LE(32, 14); bmpHeader.writeUInt32LE(xorBytes + andBytes, 20);
const pixels = Buffer.alloc(xorBytes);
for (let row = 0; row < N; row++) {
  const y = N - 1 - row; // bottom-up
  for (let x = 0; x < N; x++) {
    const [r, g, b, a] = pixel(x, y);
    pixels.set([b, g, r, a], (row * N + x) * 4);
  }
}
const mask = Buffer.alloc(andBytes); // all 0: alpha decides
const image = Buffer.concat([bmpHeader, pixels, mask]);
header.writeUInt8(N, 6); header.writeUInt8(N, 7); header.writeUInt8(0, 8); header.writeUInt8(0, 9);
header.writeUInt16LE(1, 10); header.writeUInt16LE(32, 12); header.writeUInt32LE(image.length, 14); header.writeUInt32LE(22, 18);
writeFileSync(new URL('../packages/servicenow/assets/favicon.ico', import.meta.url), Buffer.concat([header, image]));
