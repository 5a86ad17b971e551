using System.Globalization;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using FieldType = Google.Protobuf.Reflection.FieldDescriptorProto.Types.Type;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>What a CDC row asks BigQuery to do with the row of its primary key.</summary>
public enum ChangeType
{
    Upsert,
    Delete,
}

/// <summary>One row to write: values in the schema's column order (null: NULL), and for CDC writes its change type and order.</summary>
public sealed record StorageWriteRow(object?[] Values, ChangeType? Change = null, string? SequenceNumber = null);

/// <summary>
/// The writer schema of a table's rows and their serialization. The descriptor is self-contained proto2 with one
/// optional field per column (field number = position + 1), so an absent field is NULL and a present zero is a zero —
/// the Storage Write API reads rows with proto2 semantics (storage.proto, ProtoData.rows). CDC schemas add the
/// <c>_CHANGE_TYPE</c> and <c>_CHANGE_SEQUENCE_NUMBER</c> pseudo-columns (cloud.google.com/bigquery/docs/change-data-capture).
/// Rows are written with CodedOutputStream: there is no generated class per table.
/// </summary>
public sealed class StorageWriteRows
{
    public const string ChangeTypeField = "_CHANGE_TYPE";
    public const string SequenceNumberField = "_CHANGE_SEQUENCE_NUMBER";

    public StorageWriteRows(IReadOnlyList<BigQueryColumn> columns, bool changeData)
    {
        Columns = columns;
        ChangeData = changeData;
        var descriptor = new DescriptorProto { Name = "FreshetRow" };
        for (var i = 0; i < columns.Count; i++)
        {
            var name = columns[i].Name;
            if (name.Length == 0 || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                // Proto field names are identifiers; BigQuery's flexible column names would need the column_name annotation.
                throw new ArgumentException($"Column '{name}' cannot be written through the Storage Write API: names must be letters, digits and underscores, starting with a letter or underscore.", nameof(columns));
            }
            descriptor.Field.Add(Field(name, i + 1, columns[i].Encoding switch
            {
                ProtoEncoding.Int64 or ProtoEncoding.TimestampMicros => FieldType.Int64,
                ProtoEncoding.Double => FieldType.Double,
                ProtoEncoding.Bool => FieldType.Bool,
                ProtoEncoding.Bytes => FieldType.Bytes,
                ProtoEncoding.DateDays => FieldType.Int32,
                _ => FieldType.String,
            }));
        }
        if (changeData)
        {
            descriptor.Field.Add(Field(ChangeTypeField, columns.Count + 1, FieldType.String));
            descriptor.Field.Add(Field(SequenceNumberField, columns.Count + 2, FieldType.String));
        }
        Descriptor = descriptor;
    }

    public IReadOnlyList<BigQueryColumn> Columns { get; }

    public bool ChangeData { get; }

    public DescriptorProto Descriptor { get; }

    /// <summary>
    /// The <c>_CHANGE_SEQUENCE_NUMBER</c> of a change at source (position, sequence): two 16-digit hexadecimal sections,
    /// which BigQuery compares section by section as unsigned numbers, so a later change always sorts higher.
    /// </summary>
    public static string SequenceNumber(long position, long sequence) =>
        ((ulong)position).ToString("X16", CultureInfo.InvariantCulture) + "/" + ((ulong)sequence).ToString("X16", CultureInfo.InvariantCulture);

    /// <summary>
    /// <see cref="SequenceNumber(long, long)"/> behind a first section, <paramref name="generation"/>: a change of a later
    /// generation sorts after every change of an earlier one, whatever their positions (a source whose numbering restarted).
    /// </summary>
    public static string SequenceNumber(long generation, long position, long sequence) =>
        ((ulong)generation).ToString("X16", CultureInfo.InvariantCulture) + "/" + SequenceNumber(position, sequence);

    public ByteString Serialize(StorageWriteRow row)
    {
        if (row.Values.Length != Columns.Count)
        {
            throw new ArgumentException($"A row has {row.Values.Length} values; the schema has {Columns.Count} columns.", nameof(row));
        }
        if (ChangeData != row.Change.HasValue)
        {
            throw new ArgumentException(ChangeData ? "A CDC write needs a change type on every row." : "Rows of a plain append carry no change type.", nameof(row));
        }
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        for (var i = 0; i < Columns.Count; i++)
        {
            if (row.Values[i] is null or DBNull)
            {
                continue;
            }
            var number = i + 1;
            switch (BigQueryTypes.Wire(Columns[i], row.Values[i]!))
            {
                case long l:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteInt64(l);
                    break;
                case int days:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteInt32(days);
                    break;
                case double d:
                    output.WriteTag(number, WireFormat.WireType.Fixed64);
                    output.WriteDouble(d);
                    break;
                case bool b:
                    output.WriteTag(number, WireFormat.WireType.Varint);
                    output.WriteBool(b);
                    break;
                case byte[] bytes:
                    output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                    output.WriteBytes(UnsafeByteOperations.UnsafeWrap(bytes));
                    break;
                case string s:
                    output.WriteTag(number, WireFormat.WireType.LengthDelimited);
                    output.WriteString(s);
                    break;
            }
        }
        if (ChangeData)
        {
            output.WriteTag(Columns.Count + 1, WireFormat.WireType.LengthDelimited);
            output.WriteString(row.Change == ChangeType.Delete ? "DELETE" : "UPSERT");
            if (row.SequenceNumber is { } sequence)
            {
                output.WriteTag(Columns.Count + 2, WireFormat.WireType.LengthDelimited);
                output.WriteString(sequence);
            }
        }
        output.Flush();
        return UnsafeByteOperations.UnsafeWrap(buffer.ToArray());
    }

    private static FieldDescriptorProto Field(string name, int number, FieldType type) => new()
    {
        Name = name,
        Number = number,
        Type = type,
        Label = FieldDescriptorProto.Types.Label.Optional,
    };
}
