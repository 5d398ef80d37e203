/**
 * The Redis adapter's subscriptions survive a connection lost in the middle of them: a real
 * redis-server on loopback, reached through a TCP relay of this test's that resets the
 * connection carrying the adapter's first SUBSCRIBE (as Redis going away while a node starts
 * does). The node must be subscribed again once it has reconnected.
 */
import { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { connect, createServer, Server, Socket } from 'node:net';
import { AppModule } from '../../src/app.module';
import { RedisIoAdapter } from '../../src/cluster/redis-io.adapter';
import { LOOPBACK_ONLY } from '../helpers/app';
import { Procs, REDIS_SERVER, describeWithTools, freePort, redisCommand, until } from '../helpers/cluster-tools';

/** PUBSUB's integer replies end with `:<count>\r\n` (NUMSUB's after the channel's name). */
const endsWithCount = (reply: string) => /:\d+\r\n$/.test(reply);

/** Subscribers of `channel` on Redis, read from PUBSUB NUMSUB's reply. */
async function subscribers(port: number, channel: string): Promise<number> {
  const m = /:(\d+)\r\n$/.exec(await redisCommand(port, `PUBSUB NUMSUB ${channel}`, endsWithCount));
  return m ? Number(m[1]) : -1;
}

describeWithTools('Redis adapter subscriptions when the connection drops', [REDIS_SERVER], () => {
  const procs = new Procs();
  let redisPort: number;
  let relay: Server;
  const relayed = new Set<Socket>();
  let resets = 0;
  let app: INestApplication | undefined;

  beforeAll(async () => {
    redisPort = await freePort();
    await procs.startRedis(redisPort);
  });

  afterAll(async () => {
    await app?.close();
    for (const s of relayed) s.destroy();
    await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
    await procs.stopAll();
  });

  it('a SUBSCRIBE lost with its connection is made again after the reconnection', async () => {
    // The relay: every connection goes through to Redis, but the first one that carries a
    // SUBSCRIBE is reset before Redis sees it.
    let armed = true;
    relay = createServer((client) => {
      const upstream = connect(redisPort, '127.0.0.1');
      relayed.add(client).add(upstream);
      for (const s of [client, upstream]) s.on('error', () => undefined).on('close', () => relayed.delete(s));
      client.on('data', (d) => {
        if (armed && /subscribe/i.test(d.toString('latin1'))) {
          armed = false;
          resets++;
          client.resetAndDestroy();
          upstream.destroy();
          return;
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => client.write(d));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
    const relayPort = (relay.address() as { port: number }).port;

    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.forRoot({ session: LOOPBACK_ONLY, cluster: { nodeId: 'node-a', requestTimeoutMs: 1_000 } })],
    }).compile();
    app = moduleRef.createNestApplication({ logger: ['error'] });
    const adapter = new RedisIoAdapter(app, { url: `redis://127.0.0.1:${relayPort}`, maxReconnectDelayMs: 200 }).connect();
    app.useWebSocketAdapter(adapter);
    await app.listen(0, '127.0.0.1');

    await until('the adapter subscribed through the relay', async () => (await subscribers(redisPort, 'socket.io-request#/#')) === 1, 10_000, 100);
    expect(resets).toBe(1);
    expect(adapter.ready).toBe(true);
    // Its own response channel and the broadcast pattern too.
    expect(await subscribers(redisPort, 'socket.io-response#/#')).toBe(1);
    expect(await redisCommand(redisPort, 'PUBSUB NUMPAT', endsWithCount)).toBe(':1\r\n');
  });
});
