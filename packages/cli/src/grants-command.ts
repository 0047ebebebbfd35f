/**
 * `refresh-grant grants issue|list|revoke`: the first refresh token without a login flow (for
 * demos, load tests and batch provisioning), and grant administration.
 */
import { fields, table, time, withServer, withStore } from './common.ts';
import { UsageError, type CliIo, type Options } from './options.ts';

/** `grants issue`. */
export async function issue(options: Options, io: CliIo): Promise<number> {
  const count = options.number('count') ?? 1;
  return withServer(options, async (server, store) => {
    const clientId = options.required('client');
    if (!(await store.getClient(clientId))) throw new Error(`unknown client ${clientId}`);
    for (let i = 0; i < count; i++) {
      const { familyId, tokens } = await server.issueGrant({
        clientId,
        subject: options.required('subject'),
        scope: options.required('scope'),
        resources: options.list('resource'),
        dpopJkt: options.string('dpop-jkt'),
      });
      if (options.flag('json')) {
        io.stdout(JSON.stringify({ family_id: familyId, ...tokens }) + '\n');
        continue;
      }
      const now = Math.floor(Date.now() / 1000);
      io.stdout(
        (i > 0 ? '\n' : '') +
          fields([
            ['family_id', familyId],
            ['access_token', tokens.access_token],
            ['token_type', tokens.token_type],
            ['expires_in', `${tokens.expires_in} s (until ${time(now + tokens.expires_in)})`],
            ['refresh_token', tokens.refresh_token ?? '(none: with openid, a refresh token needs offline_access)'],
            ['scope', tokens.scope],
            ['id_token', tokens.id_token],
          ]),
      );
    }
    return 0;
  });
}

/** `grants list`. */
export async function list(options: Options, io: CliIo): Promise<number> {
  return withServer(options, async (server) => {
    const grants = await server.listGrants({ subject: options.string('subject'), clientId: options.string('client'), includeInactive: true });
    if (options.flag('json')) {
      const rows = grants.map((g) => ({
        family_id: g.familyId,
        client_id: g.clientId,
        sub: g.subject,
        scope: g.scope,
        created_at: g.createdAt,
        last_used_at: g.lastUsedAt,
        generation: g.generation,
        dpop_bound: g.dpopBound,
        expires_at: g.expiresAt,
        active: g.active,
        revoked_at: g.revokedAt,
        revoked_reason: g.revokedReason,
      }));
      io.stdout(JSON.stringify(rows) + '\n');
      return 0;
    }
    const rows = grants.map((g) => ({
      family_id: g.familyId,
      client_id: g.clientId,
      sub: g.subject,
      scope: g.scope,
      created: time(g.createdAt),
      last_used: g.lastUsedAt === undefined ? '(never)' : time(g.lastUsedAt),
      generation: g.generation,
      dpop: g.dpopBound ? 'bound' : '',
      expires: time(g.expiresAt),
      revoked: g.revokedAt === undefined ? '' : `${time(g.revokedAt)} (${g.revokedReason ?? 'revoked'})`,
    }));
    io.stdout(table(rows));
    return 0;
  });
}

/** `grants revoke`: one family, or every grant of a subject and/or a client. */
export async function revoke(options: Options, io: CliIo): Promise<number> {
  const familyId = options.string('family');
  const subject = options.string('subject');
  const clientId = options.string('client');
  if ((familyId === undefined) === (subject === undefined && clientId === undefined)) {
    throw new UsageError('give --family ID, or --subject SUB and/or --client ID');
  }
  const reason = options.string('reason') ?? 'admin';
  if (familyId === undefined) {
    return withServer(options, async (server) => {
      const ids = await server.revokeGrants({ subject, clientId }, reason);
      if (options.flag('json')) io.stdout(JSON.stringify({ revoked: ids }) + '\n');
      else io.stdout(`revoked ${ids.length} grant${ids.length === 1 ? '' : 's'}${ids.map((id) => `\n  ${id}`).join('')}\n`);
      return 0;
    });
  }
  return withStore(options, async (store) => {
    const revoked = await store.revokeGrant(familyId, reason, Math.floor(Date.now() / 1000));
    const grant = revoked ? undefined : await store.getGrant(familyId);
    if (!revoked && !grant) throw new Error(`unknown family ${familyId}`);
    if (options.flag('json')) {
      io.stdout(JSON.stringify({ family_id: familyId, revoked, ...(grant ? { revoked_at: grant.revokedAt, revoked_reason: grant.revokedReason } : {}) }) + '\n');
    } else {
      const was = grant?.revokedAt !== undefined ? `was already revoked (${time(grant!.revokedAt)}, ${grant!.revokedReason})` : 'has expired';
      io.stdout(revoked ? `revoked family ${familyId}\n` : `family ${familyId} ${was}\n`);
    }
    return 0;
  });
}
