/**
 * A benchmark alternative, not shipped: the PostgreSQL store's hot path (the client lookup and
 * `useRefreshToken`) on the `postgres` package (postgres.js) instead of `pg`. postgres.js
 * prepares every statement (named, once per connection) and pipelines: a query is written
 * without waiting for the previous answer, so BEGIN and the locking read of a refresh travel
 * together. Each refresh is its own transaction here (no group commit), so this measures what
 * changing the driver alone would give. Everything else is the shipped `PostgresStore`.
 *
 * Used by `bench/servers/refresh-grant-variant.ts --store postgresjs` (target `rg-pg-postgresjs`).
 */
import postgres from 'postgres';
import type { RefreshDecision, RefreshSnapshot, RefreshUse, Store } from '../../packages/server/src/core/store.ts';
import type { ClientRecord } from '../../packages/server/src/core/types.ts';
import { toClient, toGrant, toToken } from '../../packages/server/src/stores/postgres-rows.ts';
import { quoteIdent } from '../../packages/server/src/stores/postgres-schema.ts';
import { openPostgresStore, type PostgresStore } from '../../packages/server/src/stores/postgres-store.ts';

const retryable = new Set(['40001', '40P01']);

/**
 * Opens the shipped store (migrations, every other operation) and a postgres.js pool of
 * `poolSize` connections for the hot path.
 */
export async function openPostgresJsStore(connectionString: string, options: { schema?: string; poolSize?: number } = {}): Promise<Store> {
  const base = await openPostgresStore(connectionString, { schema: options.schema, poolSize: 2 });
  // The URL's application_name, if any, names these connections too (bench/pg-store.ts finds them by it).
  const application = new URL(connectionString).searchParams.get('application_name') ?? 'refresh-grant-postgresjs';
  const url = new URL(connectionString);
  url.searchParams.delete('application_name');
  const sql = postgres(url.href, { max: options.poolSize ?? 10, onnotice: () => {}, connection: { application_name: application } });
  return new PostgresJsHotPath(base, sql, quoteIdent(options.schema ?? 'public'));
}

/** The shipped store with its client lookup and refreshes on postgres.js. */
class PostgresJsHotPath implements Store {
  readonly capabilities: Store['capabilities'];
  readonly #base: PostgresStore;
  readonly #sql: postgres.Sql;
  readonly #clients: string;
  readonly #read: string;
  readonly #successor: string;
  readonly #rotate: string;
  readonly #slide: string;
  readonly #revoke: string;

  constructor(base: PostgresStore, sql: postgres.Sql, s: string) {
    this.#base = base;
    this.#sql = sql;
    this.capabilities = base.capabilities;
    this.#clients = `SELECT * FROM ${s}.clients WHERE client_id = $1`;
    this.#read = `SELECT row_to_json(t) AS token, row_to_json(g) AS "grant", row_to_json(s) AS successor
      FROM ${s}.refresh_tokens t JOIN ${s}.grants g ON g.family_id = t.family_id
      LEFT JOIN ${s}.refresh_tokens s ON s.token_hash = t.successor_hash
      WHERE t.token_hash = $1 FOR UPDATE OF t, g`;
    this.#successor = `SELECT row_to_json(s) AS token FROM ${s}.refresh_tokens s WHERE s.token_hash = $1`;
    this.#rotate = `WITH rotated AS (
        UPDATE ${s}.refresh_tokens SET state = 'rotated', rotated_at = $2, successor_hash = $3, successor_sealed = $4
        WHERE token_hash = $1 AND state = 'active' RETURNING family_id, generation)
      INSERT INTO ${s}.refresh_tokens (token_hash, family_id, generation, created_at, expires_at, state)
      SELECT $3, family_id, generation + 1, $2, $5, 'active' FROM rotated`;
    this.#slide = `UPDATE ${s}.refresh_tokens SET expires_at = $2 WHERE token_hash = $1`;
    this.#revoke = `UPDATE ${s}.grants SET revoked_at = $2, revoked_reason = 'reuse' WHERE family_id = $1 AND revoked_at IS NULL`;
  }

  async getClient(clientId: string): Promise<ClientRecord | undefined> {
    const rows = await this.#sql.unsafe(this.#clients, [clientId], { prepare: true });
    return rows[0] ? toClient(rows[0]) : undefined;
  }

  async useRefreshToken(tokenHash: string, decide: (snapshot: RefreshSnapshot | undefined) => RefreshDecision): Promise<RefreshUse> {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.#sql.begin(async (tx) => {
          const [row] = await tx.unsafe(this.#read, [tokenHash], { prepare: true });
          let snapshot: RefreshSnapshot | undefined;
          if (row) {
            snapshot = { token: toToken(row.token), grant: toGrant(row.grant) };
            if (row.successor) snapshot.successor = toToken(row.successor);
            else if (snapshot.token.successorHash !== undefined) {
              const [found] = await tx.unsafe(this.#successor, [snapshot.token.successorHash], { prepare: true });
              if (found) snapshot.successor = toToken(found.token);
            }
          }
          const decision = decide(snapshot);
          if (!snapshot && decision.action !== 'reject') throw new Error(`cannot ${decision.action} an unknown token`);
          const now = Math.floor(Date.now() / 1000);
          if (decision.action === 'rotate') {
            const done = await tx.unsafe(
              this.#rotate,
              [tokenHash, decision.at ?? now, decision.successor.tokenHash, decision.successorSealed, decision.successor.expiresAt],
              { prepare: true },
            );
            if (done.count !== 1) throw new Error('cannot rotate a token that is not active');
          } else if (decision.action === 'keep') {
            await tx.unsafe(this.#slide, [tokenHash, decision.expiresAt], { prepare: true });
          } else if (decision.action === 'reject' && decision.revokeFamily && snapshot) {
            await tx.unsafe(this.#revoke, [snapshot.grant.familyId, decision.at ?? now], { prepare: true });
          }
          return { snapshot, decision };
        })) as RefreshUse;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !retryable.has(code) || attempt >= 8) throw error;
      }
    }
  }

  createGrant: Store['createGrant'] = (...args) => this.#base.createGrant(...args);
  saveClient: Store['saveClient'] = (...args) => this.#base.saveClient(...args);
  listClients: Store['listClients'] = () => this.#base.listClients();
  deleteClient: Store['deleteClient'] = (...args) => this.#base.deleteClient(...args);
  getGrant: Store['getGrant'] = (...args) => this.#base.getGrant(...args);
  listGrants: Store['listGrants'] = (...args) => this.#base.listGrants(...args);
  listSessions: Store['listSessions'] = (...args) => this.#base.listSessions(...args);
  revokeGrants: Store['revokeGrants'] = (...args) => this.#base.revokeGrants(...args);
  revokeGrant: Store['revokeGrant'] = (...args) => this.#base.revokeGrant(...args);
  findRefreshToken: Store['findRefreshToken'] = (...args) => this.#base.findRefreshToken(...args);
  consumeOnce: Store['consumeOnce'] = (...args) => this.#base.consumeOnce(...args);
  saveOpaqueAccessToken: Store['saveOpaqueAccessToken'] = (...args) => this.#base.saveOpaqueAccessToken(...args);
  findOpaqueAccessToken: Store['findOpaqueAccessToken'] = (...args) => this.#base.findOpaqueAccessToken(...args);
  revokeAccessToken: Store['revokeAccessToken'] = (...args) => this.#base.revokeAccessToken(...args);
  isAccessTokenRevoked: Store['isAccessTokenRevoked'] = (...args) => this.#base.isAccessTokenRevoked(...args);
  listSigningKeys: Store['listSigningKeys'] = () => this.#base.listSigningKeys();
  addSigningKey: Store['addSigningKey'] = (...args) => this.#base.addSigningKey(...args);
  purgeExpired: Store['purgeExpired'] = (...args) => this.#base.purgeExpired(...args);
  saveAuthorizationCode: Store['saveAuthorizationCode'] = (...args) => this.#base.saveAuthorizationCode(...args);
  findAuthorizationCode: Store['findAuthorizationCode'] = (...args) => this.#base.findAuthorizationCode(...args);
  redeemAuthorizationCode: Store['redeemAuthorizationCode'] = (...args) => this.#base.redeemAuthorizationCode(...args);
  savePushedAuthorizationRequest: Store['savePushedAuthorizationRequest'] = (...args) => this.#base.savePushedAuthorizationRequest(...args);
  takePushedAuthorizationRequest: Store['takePushedAuthorizationRequest'] = (...args) => this.#base.takePushedAuthorizationRequest(...args);
  getConsent: Store['getConsent'] = (...args) => this.#base.getConsent(...args);
  saveConsent: Store['saveConsent'] = (...args) => this.#base.saveConsent(...args);

  async close(): Promise<void> {
    await this.#sql.end();
    await this.#base.close();
  }
}
