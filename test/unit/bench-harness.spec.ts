import { expect } from 'chai';
import { rateResult, rateStats, timeResult, timeStats } from '../../bench/harness.js';

const oneTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

describe('bench harness statistics', function () {
  describe('timeStats (larger is worse)', function () {
    it('takes the nearest-rank median and 99th percentile', function () {
      expect(timeStats(oneTo(100))).to.deep.equal({ median: 50, p99: 99 });
      expect(timeStats(oneTo(1000))).to.deep.equal({ median: 500, p99: 990 });
    });

    it('reports the largest sample as p99 when there are fewer than 100 samples', function () {
      expect(timeStats(oneTo(10))).to.deep.equal({ median: 5, p99: 10 });
    });

    it('sorts numerically, whatever the input order', function () {
      expect(timeStats([100, 9, 10, 2, 1000])).to.deep.equal({ median: 10, p99: 1000 });
    });

    it('gives the only sample for both figures, and NaN for no samples', function () {
      expect(timeStats([7])).to.deep.equal({ median: 7, p99: 7 });
      const empty = timeStats([]);
      expect(empty.median).to.be.NaN;
      expect(empty.p99).to.be.NaN;
    });

    it('leaves the caller\'s samples untouched', function () {
      const s = new Float64Array([3, 1, 2]);
      timeStats(s);
      expect(Array.from(s)).to.deep.equal([3, 1, 2]);
    });
  });

  describe('rateStats (smaller is worse)', function () {
    it('reports the 1st percentile as p99, the slow end', function () {
      expect(rateStats(oneTo(100))).to.deep.equal({ median: 50, p99: 1 });
      expect(rateStats(oneTo(1000))).to.deep.equal({ median: 500, p99: 10 });
    });

    it('reports the smallest sample as p99 when there are fewer than 100 samples', function () {
      expect(rateStats([30, 10, 20, 50, 40])).to.deep.equal({ median: 30, p99: 10 });
    });

    it('gives NaN for no samples', function () {
      const empty = rateStats([]);
      expect(empty.median).to.be.NaN;
      expect(empty.p99).to.be.NaN;
    });
  });

  describe('timeResult / rateResult', function () {
    it('carry name, unit, sample count and note next to the figures', function () {
      expect(timeResult('t', 'us', [1, 2, 3], 'n')).to.deep.equal(
        { name: 't', unit: 'us', median: 2, p99: 3, samples: 3, note: 'n' });
      expect(rateResult('r', 'MB/s', [1, 2, 3])).to.deep.include(
        { name: 'r', unit: 'MB/s', median: 2, p99: 1, samples: 3 });
    });
  });
});
