using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Freshet.DataPlane.Engine;

/// <summary>
/// One run of one pipeline: claim the destination under the epoch, prepare the source, snapshot what is missing,
/// then stream: source reader → bounded channel → batcher → writer (apply + checkpoint in one destination
/// transaction, then acknowledge the source). Any failure ends the run; the supervisor starts a new one, which resumes
/// from the destination's checkpoint, so nothing is kept in memory that a crash could lose.
/// </summary>
internal sealed partial class PipelineRunner(
    PipelineSpec spec,
    IConnectorFactory connectors,
    PipelineProgress progress,
    TimeProvider time,
    ILoggerFactory loggerFactory)
{
    /// <summary>A table whose rows fail this many times in a row is quarantined.</summary>
    private const int TableFailuresBeforeQuarantine = 3;

    private readonly ILogger _logger = loggerFactory.CreateLogger<PipelineRunner>();
    private readonly DeliverySpec _delivery = DeliveryFor(spec);
    private readonly ConcurrentDictionary<TableId, string> _quarantined = new();

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        progress.SetState(PipelineRunState.Starting);
        await using var destination = connectors.CreateDestination(spec, time);
        await using var source = connectors.CreateSource(spec, time);
        progress.SetSourceStatus(() => source.Status);
        var resilience = Resilience();

        var checkpoint = await resilience.ExecuteAsync(async ct => await destination.ClaimAsync(ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        foreach (var (table, reason) in checkpoint.Quarantined)
        {
            _quarantined[table] = reason;
            progress.Quarantined(table, reason);
        }

        var tables = await resilience.ExecuteAsync(async ct => await source.PrepareAsync(ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        var schemas = new List<(TableSchema Schema, bool Snapshot)>();
        var added = new List<TableSchema>();
        foreach (var table in tables)
        {
            if (table.Error is not null)
            {
                await QuarantineAsync(destination, table.Id, table.Error, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (_quarantined.ContainsKey(table.Id))
            {
                continue;
            }

            var setup = await destination.EnsureTableAsync(table.Schema!, spec.SchemaChangePolicy, cancellationToken).ConfigureAwait(false);
            if (setup.QuarantineReason is not null)
            {
                await QuarantineAsync(destination, table.Id, setup.QuarantineReason, cancellationToken).ConfigureAwait(false);
                continue;
            }

            schemas.Add((table.Schema!, table.Snapshot));
            if (setup.Created && table.Snapshot && checkpoint.Position is not null && checkpoint.Snapshot is null)
            {
                // A table added to a pipeline that already streams (or whose target was dropped): copy it now.
                added.Add(table.Schema!);
            }
        }

        var requested = spec.Resnapshots ?? [];
        var handled = requested.Count == 0 ? new HashSet<Guid>() : new HashSet<Guid>(await destination.ReadHandledResnapshotsAsync(cancellationToken).ConfigureAwait(false));

        // A request for a table this run does not replicate (quarantined, refused, no longer selected) waits.
        var resnapshots = requested
            .Where(r => !handled.Contains(r.Id))
            .Select(r => (r.Id, Table: schemas.Select(s => s.Schema).FirstOrDefault(s => s.Source == new TableId(r.Schema, r.Name))))
            .Where(r => r.Table is not null)
            .Select(r => (r.Id, Table: r.Table!))
            .ToList();

        var resumePosition = checkpoint.Position;
        var applied = (checkpoint.AppliedPosition, checkpoint.AppliedSequence);

        // Requests for every table the run replicates make a snapshot from nothing: a new source position (PostgreSQL: a
        // new slot; MySQL: the binlog where it is now) instead of copies stamped with the stored one. That is how a
        // pipeline whose position is lost (slot invalidated, binlog purged or renumbered) recovers, and for a pipeline
        // that still has it the outcome is the same: every table emptied and copied, then streamed.
        var whole = resumePosition is not null && checkpoint.Snapshot is null && resnapshots.Count > 0
            && schemas.All(s => resnapshots.Any(r => r.Table == s.Schema));
        if (whole)
        {
            LogWholeResnapshot(_logger, spec.PipelineId);
            added.Clear();
        }

        if (resumePosition is null || checkpoint.Snapshot is not null || whole)
        {
            progress.SetState(PipelineRunState.Snapshotting);
            var initial = schemas.Where(s => s.Snapshot || whole).Select(s => s.Schema).ToList();
            var covered = resnapshots.Where(r => initial.Contains(r.Table)).ToList();
            (resumePosition, var began) = await SnapshotAsync(source, destination, initial, whole ? null : checkpoint.Snapshot, null, [.. covered.Select(r => r.Id)], cancellationToken).ConfigureAwait(false);
            applied = (0, 0);
            if (began)
            {
                // A snapshot from nothing emptied and copied those tables anyway; one that resumed copies only the
                // chunks it still missed, so their requests are carried out below, from the position it ends at.
                handled.UnionWith(covered.Select(r => r.Id));
                resnapshots.RemoveAll(r => covered.Contains(r));
            }
        }

        // Tables to copy again while the others stream on: added ones, and those asked to be re-snapshotted (emptied,
        // planned and recorded as handled in one destination transaction, so a crash neither loses nor repeats one).
        var again = added.Concat(resnapshots.Select(r => r.Table)).DistinctBy(t => t.Source).ToList();
        if (again.Count > 0)
        {
            progress.SetState(PipelineRunState.Snapshotting);
            (resumePosition, _) = await SnapshotAsync(source, destination, again, null, resumePosition, [.. resnapshots.Select(r => r.Id)], cancellationToken).ConfigureAwait(false);
            handled.UnionWith(resnapshots.Select(r => r.Id));
            if (resnapshots.Count > 0)
            {
                LogResnapshotted(_logger, spec.PipelineId, string.Join(", ", resnapshots.Select(r => r.Table.Source.ToString())));
            }
        }

        progress.ResnapshotsHandled([.. requested.Select(r => r.Id).Where(handled.Contains)]);
        progress.SetState(PipelineRunState.Streaming);
        await StreamAsync(source, destination, resumePosition, applied, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Copies <paramref name="tables"/>: from nothing (a new slot), resuming <paramref name="plan"/>, or — with
    /// <paramref name="streamPosition"/> — tables added to a pipeline that already streams from there.
    /// </summary>
    /// <returns>The position to stream from, and whether the snapshot began (rather than resumed), recording <paramref name="resnapshots"/>.</returns>
    private async Task<(string ResumePosition, bool Began)> SnapshotAsync(
        IChangeSource source, IDestination destination, IReadOnlyList<TableSchema> tables, string? plan, string? streamPosition, IReadOnlyCollection<Guid> resnapshots,
        CancellationToken cancellationToken)
    {
        ISnapshotSession session;
        var fresh = plan is null;
        try
        {
            session = streamPosition is null
                ? await source.OpenSnapshotAsync(tables, plan, cancellationToken).ConfigureAwait(false)
                : await source.OpenAddedTablesSnapshotAsync(tables, streamPosition, cancellationToken).ConfigureAwait(false);
        }
        catch (SnapshotLostException e)
        {
            LogSnapshotRestart(_logger, spec.PipelineId, e.Message);
            session = await source.OpenSnapshotAsync(tables, null, cancellationToken).ConfigureAwait(false);
            fresh = true;
        }

        await using (session)
        {
            if (fresh)
            {
                await destination.BeginSnapshotAsync(tables, session.Plan, resnapshots, cancellationToken).ConfigureAwait(false);
            }

            var done = fresh ? new HashSet<(TableId, int)>() : await destination.ReadCompletedChunksAsync(cancellationToken).ConfigureAwait(false);
            var work = new List<(TableSchema Table, int Chunk)>();
            foreach (var table in tables)
            {
                var count = session.ChunkCounts.GetValueOrDefault(table.Source);
                var remaining = Enumerable.Range(0, count).Where(chunk => !done.Contains((table.Source, chunk))).ToList();
                progress.SnapshotPlanned(table.Source, count, count - remaining.Count);
                work.AddRange(remaining.Select(chunk => (table, chunk)));
            }

            LogSnapshot(_logger, spec.PipelineId, work.Count, tables.Count);
            await Parallel.ForEachAsync(work, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _delivery.SnapshotParallelism), CancellationToken = cancellationToken },
                async (item, ct) =>
                {
                    var rows = await destination.CopySnapshotChunkAsync(item.Table, new SnapshotChunk(item.Chunk, session.Position, session.TakenAt, Resumed: !fresh),
                        session.ReadChunkAsync(item.Table, item.Chunk, ct), ct).ConfigureAwait(false);
                    progress.SnapshotChunkDone(item.Table.Source, rows);
                }).ConfigureAwait(false);

            // Without a stream position the stream starts over from this snapshot's; added tables join the running one.
            await destination.FinishSnapshotAsync(session.ResumePosition, restartsStream: streamPosition is null, cancellationToken).ConfigureAwait(false);
            return (session.ResumePosition, fresh);
        }
    }

    private async Task StreamAsync(IChangeSource source, IDestination destination, string resumePosition, (long, long) applied, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var events = new SourceEventChannel(8192, _delivery.MaxBatchBytes);
        var items = Channel.CreateBounded<WriterItem>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        // The writer is busy while it applies a batch or one waits for it: the batcher's next batch could not be written
        // sooner anyway, so it grows instead of being cut (fewer, larger destination transactions when behind).
        var applying = new StrongBox<bool>();
        var batcher = new Batcher(
            _delivery, applied, resumePosition, _quarantined, progress, time, () => Volatile.Read(ref applying.Value) || items.Reader.Count > 0, destination.TakesInsertBlocks);

        var reading = Task.Run(async () =>
        {
            try
            {
                await source.StreamAsync(resumePosition, events.Writer, stop.Token).ConfigureAwait(false);
                events.Writer.TryComplete(new InvalidOperationException("The source stream ended."));
            }
            catch (Exception e)
            {
                events.Writer.TryComplete(e);
                throw;
            }
        }, stop.Token);
        var batching = Task.Run(async () =>
        {
            try
            {
                await batcher.RunAsync(events.Reader, items.Writer, stop.Token).ConfigureAwait(false);
                items.Writer.TryComplete();
            }
            catch (Exception e)
            {
                items.Writer.TryComplete(e);
                throw;
            }
        }, stop.Token);
        var writing = Task.Run(() => WriteAsync(source, destination, items.Reader, applying, stop.Token), stop.Token);

        var first = await Task.WhenAny(reading, batching, writing).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(reading, batching, writing).ConfigureAwait(false);
        }
        catch (Exception) when (first.IsFaulted)
        {
            // The first failure is the cause; the others are its consequences (cancelled, channel completed).
            await first.ConfigureAwait(false);
        }
    }

    private async Task WriteAsync(IChangeSource source, IDestination destination, ChannelReader<WriterItem> items, StrongBox<bool> applying, CancellationToken cancellationToken)
    {
        var resilience = Resilience();
        var failures = new Dictionary<TableId, int>();
        await foreach (var item in items.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            switch (item)
            {
                case ApplySchema schemaChange:
                    if (_quarantined.ContainsKey(schemaChange.Schema.Source))
                    {
                        break;
                    }

                    var setup = await resilience.ExecuteAsync(async ct => await destination.EnsureTableAsync(schemaChange.Schema, spec.SchemaChangePolicy, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                    if (setup.QuarantineReason is not null)
                    {
                        await QuarantineAsync(destination, schemaChange.Schema.Source, setup.QuarantineReason, cancellationToken).ConfigureAwait(false);
                    }
                    else if (setup.Changed)
                    {
                        LogSchemaApplied(_logger, spec.PipelineId, schemaChange.Schema.Source.ToString(), string.Join(", ", setup.Added), string.Join(", ", setup.Dropped), string.Join(", ", setup.Retyped));
                    }

                    break;
                case FailTable failed:
                    await QuarantineAsync(destination, failed.Table, failed.Reason, cancellationToken).ConfigureAwait(false);
                    break;
                case ApplyBatch apply:
                    var batch = apply.Batch;
                    Volatile.Write(ref applying.Value, true);
                    while (true)
                    {
                        try
                        {
                            await resilience.ExecuteAsync(async ct => await destination.ApplyAsync(batch, ct).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
                            break;
                        }
                        catch (TableApplyException e)
                        {
                            progress.Failed();
                            failures[e.Table] = failures.GetValueOrDefault(e.Table) + 1;
                            var reason = FailureReason.Describe(e);
                            LogTableFailed(_logger, spec.PipelineId, e.Table.ToString(), failures[e.Table], reason);
                            if (failures[e.Table] >= TableFailuresBeforeQuarantine)
                            {
                                await QuarantineAsync(destination, e.Table, reason, cancellationToken).ConfigureAwait(false);
                                batch = Without(batch, e.Table);
                                failures.Remove(e.Table);
                            }
                            else
                            {
                                await Task.Delay(TimeSpan.FromMilliseconds(200 * failures[e.Table]), time, cancellationToken).ConfigureAwait(false);
                            }
                        }
                    }

                    failures.Clear();
                    Volatile.Write(ref applying.Value, false);
                    if (batch.AcknowledgePosition is { } acknowledge)
                    {
                        await source.AcknowledgeAsync(acknowledge, cancellationToken).ConfigureAwait(false);
                    }

                    progress.Delivered(apply.Ticket, batch, batch.LastCommittedAt is null ? null : batch.AppliedThrough.Position);
                    break;
            }
        }
    }

    /// <summary>
    /// The pipeline's batching, with a warehouse destination's latency target as the least a batch waits for more
    /// changes: each batch wakes the warehouse (billed by the second, at least a minute per resume), so small batches are
    /// gathered up to the target instead of being written as they come.
    /// </summary>
    internal static DeliverySpec DeliveryFor(PipelineSpec spec)
    {
        var delivery = spec.Delivery ?? new DeliverySpec();
        var target = Destinations.Snowflake.SnowflakeDestinationSettings.LatencyTargetOf(spec.Destination)
            ?? Destinations.BigQuery.BigQueryDestinationSettings.LatencyTargetOf(spec.Destination);
        return target is not null
            && target.Value.TotalMilliseconds > delivery.MaxBatchDelayMilliseconds
            ? delivery with { MaxBatchDelayMilliseconds = (int)target.Value.TotalMilliseconds }
            : delivery;
    }

    private async Task QuarantineAsync(IDestination destination, TableId table, string reason, CancellationToken cancellationToken)
    {
        if (_quarantined.TryGetValue(table, out var existing) && existing == reason)
        {
            return;
        }

        _quarantined[table] = reason;
        progress.Quarantined(table, reason);
        LogQuarantined(_logger, spec.PipelineId, table.ToString(), reason);
        await destination.SaveQuarantineAsync(new Dictionary<TableId, string>(_quarantined), cancellationToken).ConfigureAwait(false);
    }

    private static ChangeBatch Without(ChangeBatch batch, TableId table) => new()
    {
        Items = [.. batch.AllItems.Where(c => c.Table.Source != table)],
        ResumePosition = batch.ResumePosition,
        AppliedThrough = batch.AppliedThrough,
        AcknowledgePosition = batch.AcknowledgePosition,
        LastCommittedAt = batch.LastCommittedAt,
        FirstReceivedAt = batch.FirstReceivedAt,
        ApproximateBytes = batch.ApproximateBytes,
    };

    /// <summary>
    /// Retries transient faults (network, a busy file, a lost connection) with jittered exponential backoff and stops
    /// hammering a destination that keeps failing. Fencing and per-table errors are never retried here: the first stops
    /// the pipeline, the second goes to quarantine accounting.
    /// </summary>
    private ResiliencePipeline Resilience() => new ResiliencePipelineBuilder { TimeProvider = time }
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(Transient.IsTransient),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(10),
            MaxRetryAttempts = 6,
            OnRetry = args =>
            {
                progress.Retried();
                LogRetry(_logger, spec.PipelineId, args.AttemptNumber + 1, args.Outcome.Exception is { } e ? FailureReason.Describe(e) : "");
                return ValueTask.CompletedTask;
            },
        })
        .AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(Transient.IsTransient),
            FailureRatio = 0.9,
            MinimumThroughput = 5,
            SamplingDuration = TimeSpan.FromSeconds(30),
            BreakDuration = TimeSpan.FromSeconds(5),
        })
        .Build();

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: every table is to be copied again, so the pipeline takes a new snapshot and streams from its position")]
    private static partial void LogWholeResnapshot(ILogger logger, Guid pipelineId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId}: the interrupted snapshot starts over ({Reason})")]
    private static partial void LogSnapshotRestart(ILogger logger, Guid pipelineId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: snapshot of {Tables} tables, {Chunks} chunks to copy")]
    private static partial void LogSnapshot(ILogger logger, Guid pipelineId, int chunks, int tables);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: copied again on request: {Tables}")]
    private static partial void LogResnapshotted(ILogger logger, Guid pipelineId, string tables);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: {Table} follows the source (added: {Added}; dropped: {Dropped}; retyped: {Retyped})")]
    private static partial void LogSchemaApplied(ILogger logger, Guid pipelineId, string table, string added, string dropped, string retyped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId}: applying {Table} failed (attempt {Attempt}): {Reason}")]
    private static partial void LogTableFailed(ILogger logger, Guid pipelineId, string table, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Pipeline {PipelineId}: table {Table} is quarantined: {Reason}")]
    private static partial void LogQuarantined(ILogger logger, Guid pipelineId, string table, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId}: transient failure, retry {Attempt}: {Reason}")]
    private static partial void LogRetry(ILogger logger, Guid pipelineId, int attempt, string reason);
}
