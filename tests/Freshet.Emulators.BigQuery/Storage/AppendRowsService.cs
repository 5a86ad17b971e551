using Freshet.BigQuery.Storage.V1;
using Freshet.Emulators.BigQuery.Auth;
using Freshet.Emulators.BigQuery.Catalog;
using Freshet.Emulators.BigQuery.Engine;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Google.Rpc;
using Grpc.Core;
using Status = Google.Rpc.Status;

namespace Freshet.Emulators.BigQuery.Storage;

/// <summary>
/// BigQueryWrite.AppendRows on the <c>_default</c> stream, with the rules storage.proto and the CDC documentation state:
/// an OAuth access token is required; the first request of a connection names the stream and carries the writer schema
/// (later ones may omit both, and a different stream name is refused); <c>offset</c> is not allowed on the default
/// stream; a request must be under 10 MB; rows that do not fit the table come back as row errors and then none of the
/// request's rows are written; <c>_CHANGE_TYPE</c> needs a table with a primary key. Explicit streams (COMMITTED,
/// PENDING, BUFFERED) are not emulated.
/// </summary>
internal sealed class AppendRowsService(BigQueryEmulatorOptions options, DuckDbStore store, ServiceAccounts accounts, FaultPlan faults, StorageStatistics statistics)
    : BigQueryWrite.BigQueryWriteBase
{
    public override async Task AppendRows(IAsyncStreamReader<AppendRowsRequest> requestStream, IServerStreamWriter<AppendRowsResponse> responseStream, ServerCallContext context)
    {
        if (accounts.Authenticate(context.RequestHeaders.GetValue("authorization")) is null)
        {
            throw new RpcException(new Grpc.Core.Status(StatusCode.Unauthenticated,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."));
        }
        statistics.Connected();
        string? streamName = null;
        RowLayout? layout = null;
        var target = (Dataset: "", Table: "");
        while (await requestStream.MoveNext(context.CancellationToken))
        {
            var request = requestStream.Current;
            if (faults.Next(FaultTarget.Storage) is { } fault)
            {
                throw Fault(fault.Kind, fault.RetryAfter);
            }
            var size = request.CalculateSize();
            if (size >= options.MaxAppendRequestBytes)
            {
                throw Invalid($"AppendRows request too large: {size} bytes; the limit is {options.MaxAppendRequestBytes}.");
            }
            if (streamName is null)
            {
                if (string.IsNullOrEmpty(request.WriteStream))
                {
                    throw Invalid("The first request of a connection must set write_stream.");
                }
                target = ParseStream(request.WriteStream);
                streamName = request.WriteStream;
            }
            else if (request.WriteStream.Length > 0 && request.WriteStream != streamName)
            {
                throw Invalid($"write_stream '{request.WriteStream}' differs from the connection's stream '{streamName}'; open a new connection for another stream.");
            }
            if (request.Offset is not null)
            {
                throw Invalid("offset is not allowed on the _default stream.");
            }
            if (request.RowsCase != AppendRowsRequest.RowsOneofCase.ProtoRows)
            {
                throw Invalid("The request has no proto_rows (the emulator does not take Arrow rows; CDC writes need protobuf).");
            }
            var table = store.FindTable(target.Dataset, target.Table)
                ?? throw StorageFailure(StatusCode.NotFound, StorageError.Types.StorageErrorCode.TableNotFound, streamName, $"Table {target.Dataset}.{target.Table} was not found.");
            if (layout is null)
            {
                var descriptor = request.ProtoRows.WriterSchema?.ProtoDescriptor
                    ?? throw Invalid("The first request of a connection must carry proto_rows.writer_schema.proto_descriptor.");
                try
                {
                    layout = new RowLayout(descriptor, table);
                }
                catch (SchemaMismatchException mismatch)
                {
                    throw mismatch.ExtraFields
                        ? StorageFailure(StatusCode.InvalidArgument, StorageError.Types.StorageErrorCode.SchemaMismatchExtraFields, streamName, mismatch.Message)
                        : Invalid(mismatch.Message);
                }
                if (layout.HasChangeType && table.PrimaryKey.Count == 0)
                {
                    throw Invalid($"Table {target.Dataset}.{target.Table} has no primary key: CDC writes (_CHANGE_TYPE) need PRIMARY KEY (...) NOT ENFORCED.");
                }
            }
            var response = new AppendRowsResponse { WriteStream = streamName };
            var rows = new List<DecodedRow>(request.ProtoRows.Rows?.SerializedRows.Count ?? 0);
            var index = 0;
            foreach (var serialized in request.ProtoRows.Rows?.SerializedRows ?? [])
            {
                if (layout.Decode(serialized, table, out var problem) is { } row)
                {
                    rows.Add(row);
                }
                else
                {
                    response.RowErrors.Add(new RowError { Index = index, Code = RowError.Types.RowErrorCode.FieldsError, Message = problem });
                }
                index++;
            }
            if (response.RowErrors.Count > 0)
            {
                statistics.Rejected();
                response.Error = new Status { Code = (int)Code.InvalidArgument, Message = $"Errors found while processing rows. {response.RowErrors.Count} row(s) rejected; none of the request's rows were written." };
            }
            else
            {
                await store.ApplyAsync(table, rows, layout.HasChangeType, context.CancellationToken);
                statistics.Appended(rows.Count);
                response.AppendResult = new AppendRowsResponse.Types.AppendResult();
            }
            await responseStream.WriteAsync(response, context.CancellationToken);
        }
    }

    private (string Dataset, string Table) ParseStream(string name)
    {
        // projects/{project}/datasets/{dataset}/tables/{table}/streams/{stream}
        var parts = name.Split('/');
        if (parts.Length != 8 || parts[0] != "projects" || parts[2] != "datasets" || parts[4] != "tables" || parts[6] != "streams")
        {
            throw Invalid($"write_stream '{name}' is not projects/{{project}}/datasets/{{dataset}}/tables/{{table}}/streams/{{stream}}.");
        }
        if (parts[1] != options.ProjectId || !store.HasDataset(parts[3]))
        {
            throw StorageFailure(StatusCode.NotFound, StorageError.Types.StorageErrorCode.TableNotFound, name, $"Table {parts[1]}:{parts[3]}.{parts[5]} was not found.");
        }
        if (parts[7] != "_default")
        {
            throw StorageFailure(StatusCode.NotFound, StorageError.Types.StorageErrorCode.StreamNotFound, name, "Only the _default stream is emulated.");
        }
        return (parts[3], parts[5]);
    }

    private static RpcException Invalid(string message) => new(new Grpc.Core.Status(StatusCode.InvalidArgument, message));

    // Errors carry a google.rpc.Status in the grpc-status-details-bin trailer, with a StorageError detail, as the
    // service sends them.
    private static RpcException StorageFailure(StatusCode code, StorageError.Types.StorageErrorCode storageCode, string entity, string message)
    {
        var status = new Status { Code = (int)code, Message = message };
        status.Details.Add(Any.Pack(new StorageError { Code = storageCode, Entity = entity, ErrorMessage = message }));
        return WithDetails(code, message, status);
    }

    private static RpcException Fault(FaultKind kind, TimeSpan retryAfter)
    {
        var (code, message) = kind == FaultKind.Throttled
            ? (StatusCode.ResourceExhausted, "Exceeds 'AppendRows throughput' quota. [injected]")
            : (StatusCode.Unavailable, "The service is currently unavailable. [injected]");
        var status = new Status { Code = (int)code, Message = message };
        status.Details.Add(Any.Pack(new RetryInfo { RetryDelay = Duration.FromTimeSpan(retryAfter) }));
        return WithDetails(code, message, status);
    }

    private static RpcException WithDetails(StatusCode code, string message, Status status) =>
        new(new Grpc.Core.Status(code, message), new Metadata { { "grpc-status-details-bin", status.ToByteArray() } });
}

/// <summary>What the Storage Write service has seen (for tests: how many connections and requests a writer used).</summary>
public sealed class StorageStatistics
{
    private int _connections;
    private int _appendedRequests;
    private int _rejectedRequests;
    private long _rows;

    public int Connections => Volatile.Read(ref _connections);

    public int AppendedRequests => Volatile.Read(ref _appendedRequests);

    public int RejectedRequests => Volatile.Read(ref _rejectedRequests);

    public long Rows => Interlocked.Read(ref _rows);

    internal void Connected() => Interlocked.Increment(ref _connections);

    internal void Appended(int rows)
    {
        Interlocked.Increment(ref _appendedRequests);
        Interlocked.Add(ref _rows, rows);
    }

    internal void Rejected() => Interlocked.Increment(ref _rejectedRequests);
}
