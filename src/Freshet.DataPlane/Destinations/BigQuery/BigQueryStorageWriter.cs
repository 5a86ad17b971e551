using System.Runtime.CompilerServices;
using Freshet.BigQuery.Storage.V1;
using Google.Protobuf;
using Google.Rpc;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// Writes rows to a table's <c>_default</c> stream with BigQueryWrite.AppendRows. Each call cuts the rows into requests
/// under <see cref="BigQueryClientOptions.MaxAppendRequestBytes"/>, opens one connection, sends them pipelined (stream
/// name and writer schema on the first request only, as storage.proto requires) and reads one response per request in
/// order. A transient failure (UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, or a dropped connection) retries on a
/// new connection from the first unacknowledged request, after the service's RetryInfo delay when it sent one. The
/// default stream is at-least-once: a request whose response was lost is written again, which CDC writes absorb through
/// <c>_CHANGE_SEQUENCE_NUMBER</c> and plain appends would duplicate.
/// </summary>
public sealed partial class BigQueryStorageWriter : IDisposable
{
    // Room in a request for the stream name, the writer schema and the protobuf framing around the rows.
    private const int EnvelopeBytes = 64 * 1024;

    private readonly BigQueryClientOptions _options;
    private readonly IBigQueryTokenSource _tokens;
    private readonly ILogger _logger;
    private readonly GrpcChannel _channel;
    private readonly BigQueryWrite.BigQueryWriteClient _client;
    private readonly ResiliencePipeline _resilience;

    public BigQueryStorageWriter(BigQueryClientOptions options, IBigQueryTokenSource tokens, TimeProvider time, ILogger? logger = null)
    {
        _options = options;
        _tokens = tokens;
        _logger = logger ?? NullLogger.Instance;
        _channel = GrpcChannel.ForAddress(options.StorageEndpoint, new GrpcChannelOptions
        {
            // Rows can be close to the request limit; the default 4 MB send limit would refuse them before the service does.
            MaxSendMessageSize = null,
        });
        _client = new BigQueryWrite.BigQueryWriteClient(_channel);
        _resilience = WarehouseHttp.Resilience<BigQueryException>(options, "BigQuery", time, _logger);
    }

    /// <summary>Connections opened so far (one per call, plus one per retry).</summary>
    public int ConnectionsOpened { get; private set; }

    public static string DefaultStream(string projectId, string dataset, string table) =>
        $"projects/{projectId}/datasets/{dataset}/tables/{table}/streams/_default";

    /// <summary>
    /// Writes <paramref name="rows"/> and returns once every request is acknowledged. Throws
    /// <see cref="BigQueryRowErrorsException"/> when rows do not fit the table (the rows of the requests before the
    /// failing one are written; none of the failing request's are), <see cref="BigQueryException"/> for other failures
    /// (after retries when transient).
    /// </summary>
    public async Task<int> AppendAsync(string dataset, string table, StorageWriteRows schema, IReadOnlyList<StorageWriteRow> rows, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return 0;
        }
        var stream = DefaultStream(_options.ProjectId, dataset, table);
        var requests = Cut(table, schema, rows);
        // Requests acknowledged so far, across attempts: a retry starts after them.
        var acknowledged = new StrongBox<int>(0);
        var renewToken = false;
        await _resilience.ExecuteAsync(async token =>
        {
            try
            {
                await SendAsync(stream, table, schema, requests, acknowledged, renewToken, token).ConfigureAwait(false);
            }
            catch (BigQueryException exception) when (exception.HttpStatus == 401 && !renewToken)
            {
                // A token revoked or expired early: one retry with a fresh token; a second 401 is the configuration.
                renewToken = true;
                throw new BigQueryException(exception.Message, 401, exception.Reason, isRetryable: true, TimeSpan.Zero, exception);
            }
        }, cancellationToken).ConfigureAwait(false);
        return rows.Count;
    }

    private List<(int FirstRow, ProtoRows Rows)> Cut(string table, StorageWriteRows schema, IReadOnlyList<StorageWriteRow> rows)
    {
        var budget = _options.MaxAppendRequestBytes - EnvelopeBytes - schema.Descriptor.CalculateSize();
        if (budget <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(rows), _options.MaxAppendRequestBytes, "MaxAppendRequestBytes leaves no room for rows.");
        }
        var requests = new List<(int, ProtoRows)>();
        var current = new ProtoRows();
        var first = 0;
        var bytes = 0;
        for (var i = 0; i < rows.Count; i++)
        {
            var serialized = schema.Serialize(rows[i]);
            // Each row costs its length plus the tag and length prefix of the repeated bytes field.
            var cost = serialized.Length + CodedOutputStream.ComputeLengthSize(serialized.Length) + 1;
            if (cost > budget)
            {
                throw new BigQueryException($"A row of {table} needs {cost} bytes; an AppendRows request may carry {budget}.", 400, "invalid", isRetryable: false);
            }
            if (bytes + cost > budget)
            {
                requests.Add((first, current));
                current = new ProtoRows();
                first = i;
                bytes = 0;
            }
            current.SerializedRows.Add(serialized);
            bytes += cost;
        }
        requests.Add((first, current));
        return requests;
    }

    private async Task SendAsync(string stream, string table, StorageWriteRows schema, List<(int FirstRow, ProtoRows Rows)> requests, StrongBox<int> acknowledged,
        bool renewToken, CancellationToken cancellationToken)
    {
        var from = acknowledged.Value;
        var headers = new Metadata
        {
            { "authorization", "Bearer " + await _tokens.GetTokenAsync(renewToken, cancellationToken).ConfigureAwait(false) },
            // Routing header the client libraries send (storage.proto's google.api.routing annotation).
            { "x-goog-request-params", "write_stream=" + Uri.EscapeDataString(stream) },
            { "user-agent", _options.UserAgent },
        };
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        ConnectionsOpened++;
        using var call = _client.AppendRows(headers, cancellationToken: stop.Token);
        var sending = SendAllAsync(call, stream, schema, requests, from, stop.Token);
        try
        {
            for (var i = from; i < requests.Count; i++)
            {
                if (!await call.ResponseStream.MoveNext(stop.Token).ConfigureAwait(false))
                {
                    throw new BigQueryException($"AppendRows to {table} ended after {i - from} of {requests.Count - from} responses.", 503, "UNAVAILABLE", isRetryable: true);
                }
                var response = call.ResponseStream.Current;
                if (response.RowErrors.Count > 0)
                {
                    throw new BigQueryRowErrorsException(table, [.. response.RowErrors.Select(e => (requests[i].FirstRow + (int)e.Index, e.Message))]);
                }
                if (response.ResponseCase == AppendRowsResponse.ResponseOneofCase.Error)
                {
                    throw FromStatus(table, (StatusCode)response.Error.Code, response.Error.Message, RetryDelayOf(response.Error));
                }
                acknowledged.Value = i + 1;
            }
            await sending.ConfigureAwait(false);
        }
        catch (RpcException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw FromRpc(table, exception);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await sending.ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is RpcException or OperationCanceledException or InvalidOperationException)
            {
                // The call already failed or was cancelled; the reader's error is the one that counts.
            }
        }
    }

    private static async Task SendAllAsync(AsyncDuplexStreamingCall<AppendRowsRequest, AppendRowsResponse> call, string stream, StorageWriteRows schema,
        List<(int FirstRow, ProtoRows Rows)> requests, int from, CancellationToken cancellationToken)
    {
        for (var i = from; i < requests.Count; i++)
        {
            var data = new AppendRowsRequest.Types.ProtoData { Rows = requests[i].Rows };
            var request = new AppendRowsRequest { ProtoRows = data };
            if (i == from)
            {
                // First request of the connection: the stream and the writer schema.
                request.WriteStream = stream;
                data.WriterSchema = new ProtoSchema { ProtoDescriptor = schema.Descriptor };
            }
            await call.RequestStream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        }
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
    }

    private static BigQueryException FromRpc(string table, RpcException exception)
    {
        TimeSpan? delay = null;
        string? detail = null;
        if (exception.Trailers.GetValueBytes("grpc-status-details-bin") is { } bytes)
        {
            try
            {
                var status = Google.Rpc.Status.Parser.ParseFrom(bytes);
                delay = RetryDelayOf(status);
                detail = status.Details.Where(d => d.Is(StorageError.Descriptor)).Select(d => d.Unpack<StorageError>()).Select(e => $" ({e.Code})").FirstOrDefault();
            }
            catch (InvalidProtocolBufferException)
            {
                // A status we cannot read still has its code and message.
            }
        }
        return FromStatus(table, exception.StatusCode, exception.Status.Detail + detail, delay, exception);
    }

    private static BigQueryException FromStatus(string table, StatusCode code, string message, TimeSpan? retryDelay, Exception? inner = null)
    {
        var retryable = code is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.Aborted or StatusCode.Internal or StatusCode.DeadlineExceeded;
        var http = code switch
        {
            StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => 400,
            StatusCode.Unauthenticated => 401,
            StatusCode.PermissionDenied => 403,
            StatusCode.NotFound => 404,
            StatusCode.AlreadyExists or StatusCode.Aborted => 409,
            StatusCode.ResourceExhausted => 429,
            StatusCode.Unavailable => 503,
            StatusCode.DeadlineExceeded => 504,
            _ => 500,
        };
        return new BigQueryException($"AppendRows to {table} failed: {code}: {message}", http, code.ToString(), retryable, retryDelay, inner);
    }

    private static TimeSpan? RetryDelayOf(Google.Rpc.Status status) =>
        status.Details.Where(d => d.Is(RetryInfo.Descriptor)).Select(d => d.Unpack<RetryInfo>().RetryDelay?.ToTimeSpan()).FirstOrDefault();

    public void Dispose() => _channel.Dispose();
}
