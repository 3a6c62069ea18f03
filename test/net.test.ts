// isLoopbackHost: what counts as a bind address that only this machine can reach.
import { expect } from 'chai';
import { isLoopbackHost } from '../src/net.ts';

describe('isLoopbackHost', function () {
  for (const host of ['127.0.0.1', '127.255.1.2', '::1', '[::1]', '0:0:0:0:0:0:0:1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1', '[::ffff:127.0.0.1]']) {
    it(`${host} — loopback`, function () {
      expect(isLoopbackHost(host)).to.equal(true);
    });
  }
  for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'example.com', 'localhost.evil.com', '127.0.0.1.nip.io', '']) {
    it(`${JSON.stringify(host)} — not loopback`, function () {
      expect(isLoopbackHost(host)).to.equal(false);
    });
  }
});

describe('isLoopbackHost with an IPv6 zone', function () {
  it('judges the address and ignores the zone, never throwing', function () {
    expect(isLoopbackHost('::1%lo')).to.equal(true);
    expect(isLoopbackHost('[::1%25lo]')).to.equal(true);
    expect(isLoopbackHost('fe80::1%eth0')).to.equal(false);
    expect(isLoopbackHost('[fe80::1%25eth0]')).to.equal(false);
  });
});
