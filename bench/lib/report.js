// Benchmark output: a Markdown table and an SVG bar chart of the same results.
'use strict'

const fmt = (n, digits = 0) => (n === undefined || n === null || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }))

/** Markdown: machine, then one table per scenario, then the target checks. */
function markdown(results) {
  const m = results.machine
  const lines = [
    `# Benchmarks ${results.date}`,
    '',
    `${m.cpus} × ${m.cpuModel}, Node ${m.node}, libcoap ${m.libcoap} (${m.dtls}); ratios come from this one run.`,
    `Load generator ceiling: ${fmt(results.ceiling?.rps)} requests/s against its own trivial responder.`,
    '',
  ]
  for (const s of results.scenarios) {
    lines.push(`## ${s.title}`, '')
    if (s.note) lines.push(s.note, '')
    lines.push('| system | rps | p50 µs | p99 µs | server CPU µs/request | other |', '|---|---:|---:|---:|---:|---|')
    for (const r of s.rows) {
      lines.push(`| ${r.system} | ${fmt(r.rps)} | ${fmt(r.p50_us)} | ${fmt(r.p99_us)} | ${fmt(r.cpu_us_per_request, 1)} | ${r.other ?? ''} |`)
    }
    lines.push('')
  }
  for (const f of results.failed ?? []) lines.push(`**${f.scenario} failed:** ${f.error}`, '')
  if (results.targets.length) {
    lines.push('## Targets', '', '| target | measured | met |', '|---|---:|---|')
    for (const t of results.targets) lines.push(`| ${t.name} | ${fmt(t.ratio, 2)}× (≥ ${t.floor}×) | ${t.met ? 'yes' : '**no**'} |`)
    lines.push('')
  }
  return lines.join('\n')
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')

/** SVG: per scenario, a bar per system for rps, with p50/p99 written beside it. */
function svg(results) {
  const rows = results.scenarios.flatMap((s) => [{ heading: s.title }, ...s.rows.filter((r) => r.rps)])
  const max = Math.max(1, ...rows.map((r) => r.rps ?? 0))
  const width = 900
  const barX = 260
  const barW = 420
  const h = 22
  let y = 30
  const parts = [`<text x="10" y="20" font-size="14" font-weight="bold">${esc(`libcoap for Node.js — ${results.date} (${results.machine.cpus} cores)`)}</text>`]
  for (const r of rows) {
    if (r.heading) {
      y += 10
      parts.push(`<text x="10" y="${y + 14}" font-size="12" font-weight="bold">${esc(r.heading)}</text>`)
      y += h
      continue
    }
    const w = Math.max(1, (r.rps / max) * barW)
    parts.push(`<text x="20" y="${y + 14}" font-size="11">${esc(r.system)}</text>`)
    parts.push(`<rect x="${barX}" y="${y + 3}" width="${w.toFixed(1)}" height="${h - 6}" fill="${r.system.startsWith('ours') ? '#2b6cb0' : '#a0aec0'}"/>`)
    parts.push(`<text x="${barX + w + 6}" y="${y + 14}" font-size="11">${esc(`${fmt(r.rps)} rps · p50 ${fmt(r.p50_us)} µs · p99 ${fmt(r.p99_us)} µs`)}</text>`)
    y += h
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 20}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`
}

module.exports = { markdown, svg }
