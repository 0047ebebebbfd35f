/**
 * The load generator's measuring window (bench/load.ts): CPU per refresh is what changed
 * between the window's two edge samples divided by the refreshes completed between them, so
 * both edges must always be taken, in order, whatever the timers do. (The end timer used to
 * be lost when the last virtual client finished first, and server CPU per refresh came out
 * negative.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WindowEdges } from '../../bench/load.ts';

/** Edges over a window [10, 20] whose samples are numbered in the order they were taken. */
function window() {
  let taken = 0;
  return new WindowEdges(10, 20, () => ++taken);
}

describe('load generator: the measuring window', () => {
  it('takes the end at the first completion after the window when its timer never fires', () => {
    const edges = window();
    for (const t of [5, 8]) edges.completed(t);
    assert.equal(edges.start, undefined);
    edges.completed(12);
    edges.completed(18);
    edges.completed(21);
    edges.completed(25);
    // The last virtual client is done; its timer was cleared before it could fire.
    assert.deepEqual(edges.finish(), { start: 1, end: 2 });
  });

  it('takes the end when the load finishes, if nothing took it (no completion after the window)', () => {
    const edges = window();
    edges.timer('start');
    edges.completed(15);
    assert.deepEqual(edges.finish(), { start: 1, end: 2 });
  });

  it('never takes the start after the end: a window with no start sample gets one first', () => {
    const edges = window();
    edges.completed(30);
    assert.deepEqual(edges.finish(), { start: 1, end: 2 });
    const late = window();
    late.timer('end');
    assert.deepEqual(late.finish(), { start: 1, end: 2 });
  });

  it('takes each edge once, by whichever comes first of its timer and a completion', () => {
    const edges = window();
    edges.timer('start');
    edges.completed(11);
    edges.timer('start');
    edges.completed(20);
    edges.timer('end');
    edges.completed(22);
    assert.deepEqual(edges.finish(), { start: 1, end: 2 });
  });
});
