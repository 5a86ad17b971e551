using Npgsql;

namespace Freshet.ControlPlane.Scheduler.Leadership;

/// <summary>A term of leadership: who leads, and the term number that every one of its commits is fenced on.</summary>
internal sealed record LeadershipTerm(Guid Holder, long Term);

/// <summary>Thrown by <see cref="SchedulerLeadership.FenceAsync"/> when this scheduler no longer leads.</summary>
internal sealed class NotLeaderException(string message) : Exception(message);

/// <summary>
/// Leader election for the scheduler through a lease row in the control database (<c>scheduler_leader</c>), timed by the
/// database's clock so the candidates' clocks do not matter. A candidate takes the lease when it is free or expired and
/// renews it while it holds it; taking it over starts a new term. Every decision the leader commits is fenced: inside
/// the committing transaction, <see cref="FenceAsync"/> share-locks the row and checks that the term is still this
/// candidate's and unexpired, so a leader that stalled past its lease cannot commit after a standby took over, and a
/// takeover waits for a commit that is already under way.
/// </summary>
/// <remarks>
/// A lease row rather than an advisory lock: it says who leads (for the platform API), survives poolers that do not keep
/// sessions, and gives the term number the fence needs.
/// </remarks>
internal sealed class SchedulerLeadership(NpgsqlDataSource dataSource, Guid candidate, string name, TimeSpan leaseDuration)
{
    public Guid Candidate { get; } = candidate;

    /// <summary>Takes the lease if it is free or expired, or renews it if this candidate holds it; null when another leads.</summary>
    public async Task<LeadershipTerm?> TryAcquireOrRenewAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO scheduler_leader AS l (id, holder, holder_name, term, acquired_at, renewed_at, expires_at)
            VALUES (1, $1, $2, 1, now(), now(), now() + $3)
            ON CONFLICT (id) DO UPDATE SET
                holder = excluded.holder,
                holder_name = excluded.holder_name,
                term = CASE WHEN l.holder = excluded.holder THEN l.term ELSE l.term + 1 END,
                acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END,
                renewed_at = now(),
                expires_at = excluded.expires_at
            WHERE l.holder = excluded.holder OR l.expires_at <= now()
            RETURNING term
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = Candidate });
        command.Parameters.Add(new NpgsqlParameter { Value = name });
        command.Parameters.Add(new NpgsqlParameter { Value = leaseDuration });
        var term = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return term is long value ? new LeadershipTerm(Candidate, value) : null;
    }

    /// <summary>Gives the lease up at once (graceful shutdown), so a standby need not wait for it to expire.</summary>
    public async Task ResignAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE scheduler_leader SET expires_at = now() WHERE id = 1 AND holder = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = Candidate });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Who leads now, if anyone: holder, name, term and when the lease runs out.</summary>
    public async Task<(Guid Holder, string Name, long Term, DateTimeOffset ExpiresAt)?> CurrentAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT holder, holder_name, term, expires_at FROM scheduler_leader WHERE id = 1 AND expires_at > now()");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? (reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3))
            : null;
    }

    /// <summary>
    /// Inside the transaction that commits a decision: proves <paramref name="term"/> still leads and holds the row so no
    /// takeover can happen before the commit. Throws <see cref="NotLeaderException"/> otherwise.
    /// </summary>
    public static async Task FenceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, LeadershipTerm term, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT 1 FROM scheduler_leader WHERE id = 1 AND holder = $1 AND term = $2 AND expires_at > now() FOR SHARE",
            connection,
            transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = term.Holder });
        command.Parameters.Add(new NpgsqlParameter { Value = term.Term });
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            throw new NotLeaderException($"Term {term.Term} of scheduler {term.Holder} has ended; another scheduler leads.");
        }
    }
}
