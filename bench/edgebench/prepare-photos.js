'use strict';
// Prepares the resize phase's photos for bench/edgebench: 1, 2, 4 and 8
// megapixel JPEGs (quality 90, as a camera or an export would write them)
// made by downscaling real photographs from the Debian package
// lomiri-wallpapers-16.04 (Ubuntu's 16.04 wallpaper contest photos), which
// run.sh downloads with `apt-get download` and unpacks with `dpkg -x` into
// the --src directory. Nothing is upscaled: a class only uses photos with at
// least its pixel count. A class left without a photo (package missing)
// gets synthetic photo-like images (smooth gradients + sensor-like noise),
// marked as such in manifest.json and in the report.
//
//   node prepare-photos.js --src DIR --out DIR
//
// Writes DIR/*.jpg and DIR/manifest.json: [{file, width, height, bytes,
// mp, source, synthetic}].

const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

const PKG = 'lomiri-wallpapers-16.04';
const BG = 'usr/share/backgrounds';
// Three per class, landscape and portrait, from different photographers.
const CANDIDATES = {
  8: ['Dragonfly_by_Bolly.jpg', 'seeding_by_Clements_Engelhardt.jpg', 'Wine_by_Jakkub_Mede.jpg'],
  4: ['Bridge_by_Sander_Klootwijk.jpg', 'sunset_by_Aitzol_Berasategi.jpg', 'picosdeeuropa_by_Aitzol_Berasategi.jpg'],
  2: ['aitzgorri_by_Aitzol_Berasategi.jpg', 'friends_by_Aitzol_Berasategi.jpg', 'life_by_Aitzol_Berasategi.jpg'],
  1: ['Picture_0B_by_freespace.jpg', 'Picture_1A_by_freespace.jpg', 'free_by_Peter_Nerlich.jpg'],
};
const PER_CLASS = 3;
const QUALITY = 90;

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

// fitPixels scales w×h to about mp megapixels, keeping the aspect ratio.
function fitPixels(w, h, mp) {
  const s = Math.sqrt((mp * 1e6) / (w * h));
  return [Math.round(w * s), Math.round(h * s)];
}

function slug(name) {
  return name.replace(/\.jpe?g$/i, '').replace(/_by_.*/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-');
}

// synthetic is a photo-like image: large smooth gradients (sky, walls),
// a few soft blobs (subjects), and per-pixel noise (sensor grain), so
// that its JPEG compresses and decodes like a photograph rather than
// like a flat test card.
function synthetic(w, h, seed) {
  const buf = Buffer.alloc(w * h * 3);
  let x = seed * 2654435761 >>> 0;
  const rnd = () => ((x = (x * 1664525 + 1013904223) >>> 0) / 4294967296);
  const blobs = Array.from({ length: 6 }, () => ({ cx: rnd() * w, cy: rnd() * h, r: (0.1 + rnd() * 0.3) * Math.min(w, h), c: [rnd() * 255, rnd() * 255, rnd() * 255] }));
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const gx = i / w, gy = j / h;
      let r = 40 + 150 * gy + 40 * gx, g = 80 + 100 * (1 - gy), b = 120 + 110 * (1 - gy) * gx;
      for (const bl of blobs) {
        const d = Math.hypot(i - bl.cx, j - bl.cy) / bl.r;
        if (d < 1) {
          const a = (1 - d * d) * 0.8;
          r += (bl.c[0] - r) * a; g += (bl.c[1] - g) * a; b += (bl.c[2] - b) * a;
        }
      }
      const n = (rnd() - 0.5) * 24;
      const o = (j * w + i) * 3;
      buf[o] = Math.max(0, Math.min(255, r + n));
      buf[o + 1] = Math.max(0, Math.min(255, g + n));
      buf[o + 2] = Math.max(0, Math.min(255, b + n));
    }
  }
  return sharp(buf, { raw: { width: w, height: h, channels: 3 } });
}

async function main() {
  const src = arg('--src', '');
  const out = arg('--out', '');
  if (!out) throw new Error('usage: node prepare-photos.js --src DIR --out DIR');
  fs.mkdirSync(out, { recursive: true });
  const manifest = [];
  for (const mp of [1, 2, 4, 8]) {
    let made = 0;
    for (const name of CANDIDATES[mp]) {
      if (made >= PER_CLASS) break;
      const file = path.join(src, BG, name);
      if (!src || !fs.existsSync(file)) continue;
      const meta = await sharp(file).metadata();
      if (meta.width * meta.height < mp * 1e6 * 0.99) continue; // never upscale
      const [w, h] = fitPixels(meta.width, meta.height, mp);
      const outName = `p${mp}mp-${slug(name)}.jpg`;
      const info = await sharp(file).rotate().resize(w, h, { fit: 'cover' }).jpeg({ quality: QUALITY }).toFile(path.join(out, outName));
      manifest.push({ file: outName, width: info.width, height: info.height, bytes: info.size, mp, source: `${PKG}: /${BG}/${name} (${meta.width}×${meta.height})`, synthetic: false });
      made++;
    }
    for (let k = made; k < PER_CLASS; k++) {
      const [w, h] = fitPixels(k === 2 ? 2 : 3, k === 2 ? 3 : 2, mp);
      const outName = `p${mp}mp-synthetic-${k + 1}.jpg`;
      const info = await synthetic(w, h, mp * 10 + k).jpeg({ quality: QUALITY }).toFile(path.join(out, outName));
      manifest.push({ file: outName, width: info.width, height: info.height, bytes: info.size, mp, source: `${PKG} not available`, synthetic: true });
    }
  }
  fs.writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  for (const p of manifest) console.log(`${p.file} ${p.width}x${p.height} ${(p.bytes / 1048576).toFixed(2)} MiB${p.synthetic ? ' (synthetic)' : ''}`);
}

main().catch((err) => {
  console.error('prepare-photos:', err.message);
  process.exit(1);
});
