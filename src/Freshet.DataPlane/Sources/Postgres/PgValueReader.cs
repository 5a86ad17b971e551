using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Npgsql;
using Npgsql.Replication.PgOutput;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// Reads one binary value (from a pgoutput tuple or a binary COPY row) into the data plane's representation of its
/// kind (see <see cref="ValueKind"/>). Values are copied out at once: Npgsql reuses its buffers for the next message.
/// </summary>
internal static class PgValueReader
{
    public static async ValueTask<object?> ReadAsync(ReplicationValue value, ColumnType type, CancellationToken cancellationToken)
    {
        switch (value.Kind)
        {
            case TupleDataKind.Null:
                return null;
            case TupleDataKind.UnchangedToastedValue:
                return UnchangedValue.Instance;
            case TupleDataKind.TextValue:
                throw new InvalidOperationException("The source sent a text value although binary output was requested.");
        }

        if (type.Kind == ValueKind.NumericText)
        {
            var bytes = await ReadBytesAsync(value, cancellationToken).ConfigureAwait(false);
            return type.IsArray ? PgNumeric.ArrayToText(bytes) : PgNumeric.ToText(bytes);
        }

        return type.IsArray
            ? type.Kind switch
            {
                ValueKind.Int16 => await value.Get<short?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Int32 => await value.Get<int?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Int64 => await value.Get<long?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Decimal => await value.Get<decimal?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Float32 => await value.Get<float?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Float64 => await value.Get<double?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum => await value.Get<string?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Boolean => await value.Get<bool?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Date => await value.Get<DateOnly?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Time => await value.Get<TimeOnly?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Timestamp or ValueKind.TimestampTz => await value.Get<DateTime?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Interval => await value.Get<NpgsqlInterval?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Uuid => await value.Get<Guid?[]>(cancellationToken).ConfigureAwait(false),
                ValueKind.Bytes => await value.Get<byte[]?[]>(cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            }
            : type.Kind switch
            {
                ValueKind.Int16 => await value.Get<short>(cancellationToken).ConfigureAwait(false),
                ValueKind.Int32 => await value.Get<int>(cancellationToken).ConfigureAwait(false),
                ValueKind.Int64 => await value.Get<long>(cancellationToken).ConfigureAwait(false),
                ValueKind.Decimal => await value.Get<decimal>(cancellationToken).ConfigureAwait(false),
                ValueKind.Float32 => await value.Get<float>(cancellationToken).ConfigureAwait(false),
                ValueKind.Float64 => await value.Get<double>(cancellationToken).ConfigureAwait(false),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum => await value.Get<string>(cancellationToken).ConfigureAwait(false),
                ValueKind.Boolean => await value.Get<bool>(cancellationToken).ConfigureAwait(false),
                ValueKind.Date => await value.Get<DateOnly>(cancellationToken).ConfigureAwait(false),
                ValueKind.Time => await value.Get<TimeOnly>(cancellationToken).ConfigureAwait(false),
                ValueKind.Timestamp or ValueKind.TimestampTz => await value.Get<DateTime>(cancellationToken).ConfigureAwait(false),
                ValueKind.Interval => await value.Get<NpgsqlInterval>(cancellationToken).ConfigureAwait(false),
                ValueKind.Uuid => await value.Get<Guid>(cancellationToken).ConfigureAwait(false),
                ValueKind.Bytes => await value.Get<byte[]>(cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            };
    }

    public static object? Read(NpgsqlBinaryExporter row, ColumnType type)
    {
        if (row.IsNull)
        {
            row.Skip();
            return null;
        }

        var copyType = PgTypeMapping.CopyType(type);
        return type.IsArray
            ? type.Kind switch
            {
                ValueKind.Int16 => row.Read<short?[]>(copyType),
                ValueKind.Int32 => row.Read<int?[]>(copyType),
                ValueKind.Int64 => row.Read<long?[]>(copyType),
                ValueKind.Decimal => row.Read<decimal?[]>(copyType),
                ValueKind.Float32 => row.Read<float?[]>(copyType),
                ValueKind.Float64 => row.Read<double?[]>(copyType),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText
                    => row.Read<string?[]>(copyType),
                ValueKind.Boolean => row.Read<bool?[]>(copyType),
                ValueKind.Date => row.Read<DateOnly?[]>(copyType),
                ValueKind.Time => row.Read<TimeOnly?[]>(copyType),
                ValueKind.Timestamp or ValueKind.TimestampTz => row.Read<DateTime?[]>(copyType),
                ValueKind.Interval => row.Read<NpgsqlInterval?[]>(copyType),
                ValueKind.Uuid => row.Read<Guid?[]>(copyType),
                ValueKind.Bytes => row.Read<byte[]?[]>(copyType),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            }
            : type.Kind switch
            {
                ValueKind.Int16 => row.Read<short>(copyType),
                ValueKind.Int32 => row.Read<int>(copyType),
                ValueKind.Int64 => row.Read<long>(copyType),
                ValueKind.Decimal => row.Read<decimal>(copyType),
                ValueKind.Float32 => row.Read<float>(copyType),
                ValueKind.Float64 => row.Read<double>(copyType),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText
                    => row.Read<string>(copyType),
                ValueKind.Boolean => row.Read<bool>(copyType),
                ValueKind.Date => row.Read<DateOnly>(copyType),
                ValueKind.Time => row.Read<TimeOnly>(copyType),
                ValueKind.Timestamp or ValueKind.TimestampTz => row.Read<DateTime>(copyType),
                ValueKind.Interval => row.Read<NpgsqlInterval>(copyType),
                ValueKind.Uuid => row.Read<Guid>(copyType),
                ValueKind.Bytes => row.Read<byte[]>(copyType),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            };
    }

    /// <summary>Reads a value of an ordinary query whose select list came from <see cref="PgSnapshotSession.SelectList"/>.</summary>
    public static object? Read(NpgsqlDataReader row, int ordinal, ColumnType type)
    {
        if (row.IsDBNull(ordinal))
        {
            return null;
        }

        return type.IsArray
            ? type.Kind switch
            {
                ValueKind.Int16 => row.GetFieldValue<short?[]>(ordinal),
                ValueKind.Int32 => row.GetFieldValue<int?[]>(ordinal),
                ValueKind.Int64 => row.GetFieldValue<long?[]>(ordinal),
                ValueKind.Decimal => row.GetFieldValue<decimal?[]>(ordinal),
                ValueKind.Float32 => row.GetFieldValue<float?[]>(ordinal),
                ValueKind.Float64 => row.GetFieldValue<double?[]>(ordinal),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText => row.GetFieldValue<string?[]>(ordinal),
                ValueKind.Boolean => row.GetFieldValue<bool?[]>(ordinal),
                ValueKind.Date => row.GetFieldValue<DateOnly?[]>(ordinal),
                ValueKind.Time => row.GetFieldValue<TimeOnly?[]>(ordinal),
                ValueKind.Timestamp or ValueKind.TimestampTz => row.GetFieldValue<DateTime?[]>(ordinal),
                ValueKind.Interval => row.GetFieldValue<NpgsqlInterval?[]>(ordinal),
                ValueKind.Uuid => row.GetFieldValue<Guid?[]>(ordinal),
                ValueKind.Bytes => row.GetFieldValue<byte[]?[]>(ordinal),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            }
            : type.Kind switch
            {
                ValueKind.Int16 => row.GetFieldValue<short>(ordinal),
                ValueKind.Int32 => row.GetFieldValue<int>(ordinal),
                ValueKind.Int64 => row.GetFieldValue<long>(ordinal),
                ValueKind.Decimal => row.GetFieldValue<decimal>(ordinal),
                ValueKind.Float32 => row.GetFieldValue<float>(ordinal),
                ValueKind.Float64 => row.GetFieldValue<double>(ordinal),
                ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText => row.GetFieldValue<string>(ordinal),
                ValueKind.Boolean => row.GetFieldValue<bool>(ordinal),
                ValueKind.Date => row.GetFieldValue<DateOnly>(ordinal),
                ValueKind.Time => row.GetFieldValue<TimeOnly>(ordinal),
                ValueKind.Timestamp or ValueKind.TimestampTz => row.GetFieldValue<DateTime>(ordinal),
                ValueKind.Interval => row.GetFieldValue<NpgsqlInterval>(ordinal),
                ValueKind.Uuid => row.GetFieldValue<Guid>(ordinal),
                ValueKind.Bytes => row.GetFieldValue<byte[]>(ordinal),
                _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
            };
    }

    private static async ValueTask<byte[]> ReadBytesAsync(ReplicationValue value, CancellationToken cancellationToken)
    {
        var bytes = new byte[value.Length];
        await using var stream = value.GetStream();
        await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes;
    }
}
