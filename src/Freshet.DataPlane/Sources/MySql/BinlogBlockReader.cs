using System.Text;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Reads the row images of WRITE_ROWS events straight into an <see cref="InsertBlock"/>, column by column, for a table
/// map whose every column is of a type read this way: integers, YEAR, FLOAT, DOUBLE, DECIMAL up to 28 digits, DATE,
/// DATETIME, TIMESTAMP, and CHAR/VARCHAR/TEXT in a UTF-8 character set. Any other column (binary strings, ENUM, SET,
/// BIT, TIME, JSON, GEOMETRY, other character sets) leaves the table to <see cref="BinlogValueReader"/>. Each value is
/// what <see cref="BinlogValueReader.ReadValue"/> gives, held unboxed (<see cref="InsertBlock.Materialize"/> gives
/// the same objects back); the layouts are those that reader documents.
/// </summary>
internal sealed class BinlogBlockReader
{
    private readonly BinlogColumn[] _columns;

    /// <summary>Per binlog column: the schema column it fills, or -1 (read past).</summary>
    private readonly int[] _targets;

    private BinlogBlockReader(BinlogColumn[] columns, int[] targets, BlockValueKind[] kinds)
    {
        _columns = columns;
        _targets = targets;
        Kinds = kinds;
    }

    /// <summary>Per schema column, how the block holds it.</summary>
    public BlockValueKind[] Kinds { get; }

    /// <summary>
    /// A reader for rows of <paramref name="table"/> into blocks of <paramref name="schema"/>, whose column i is the table
    /// map's column <paramref name="ordinals"/>[i] (-1: not in the table map, NULL); null when a column is of a type
    /// this reader does not take.
    /// </summary>
    public static BinlogBlockReader? TryCreate(BinlogTable table, TableSchema schema, int[] ordinals)
    {
        var columns = table.Columns.ToArray();
        var targets = new int[columns.Length];
        Array.Fill(targets, -1);
        var kinds = new BlockValueKind[schema.Columns.Count];
        for (var i = 0; i < ordinals.Length; i++)
        {
            if (ordinals[i] >= 0)
            {
                targets[ordinals[i]] = i;
            }
        }

        for (var j = 0; j < columns.Length; j++)
        {
            if (KindOf(columns[j]) is not { } kind)
            {
                return null;
            }

            if (targets[j] >= 0)
            {
                kinds[targets[j]] = kind;
            }
        }

        return new BinlogBlockReader(columns, targets, kinds);
    }

    /// <summary>Whether the image has every column (a FULL row image): only then is a row read into a block.</summary>
    public bool AllPresent(ReadOnlySpan<byte> present)
    {
        for (var j = 0; j < _columns.Length; j++)
        {
            if (!BinlogValueReader.IsSet(present, j))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Reads one row image (every column present) into the block's next row.</summary>
    public void ReadRow(ref PayloadReader reader, InsertBlock block)
    {
        var nulls = reader.ReadBytes((_columns.Length + 7) / 8);
        for (var j = 0; j < _columns.Length; j++)
        {
            var target = _targets[j];
            if (BinlogValueReader.IsSet(nulls, j))
            {
                if (target >= 0)
                {
                    block.SetNull(target);
                }

                continue;
            }

            ReadValue(ref reader, _columns[j], block, target);
        }

        block.AddRow();
    }

    private static BlockValueKind? KindOf(BinlogColumn column) => column.Type switch
    {
        MySqlColumnType.Tiny or MySqlColumnType.Year => BlockValueKind.Int16,
        MySqlColumnType.Short => column.Unsigned ? BlockValueKind.Int32 : BlockValueKind.Int16,
        MySqlColumnType.Int24 => BlockValueKind.Int32,
        MySqlColumnType.Long => column.Unsigned ? BlockValueKind.Int64 : BlockValueKind.Int32,
        MySqlColumnType.LongLong => column.Unsigned ? BlockValueKind.Decimal : BlockValueKind.Int64,
        MySqlColumnType.Float => BlockValueKind.Float32,
        MySqlColumnType.Double => BlockValueKind.Float64,
        MySqlColumnType.NewDecimal when column.Precision <= MySqlDecimal.MaxClrPrecision => BlockValueKind.Decimal,
        MySqlColumnType.Date or MySqlColumnType.NewDate => BlockValueKind.Date,
        MySqlColumnType.DateTime or MySqlColumnType.DateTime2 => BlockValueKind.DateTime,
        MySqlColumnType.Timestamp or MySqlColumnType.Timestamp2 => BlockValueKind.DateTimeUtc,
        MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString or MySqlColumnType.Blob
            or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob when IsUtf8Text(column) => BlockValueKind.Text,
        _ => null,
    };

    private static bool IsUtf8Text(BinlogColumn column)
    {
        if (column.IsBinary || column.Collation is not int collation)
        {
            return false;
        }

        try
        {
            return MySqlCollations.EncodingOf(collation) is UTF8Encoding;
        }
        catch (BinlogUnsupportedException)
        {
            return false;
        }
    }

    private static void ReadValue(ref PayloadReader reader, BinlogColumn column, InsertBlock block, int target)
    {
        switch (column.Type)
        {
            case MySqlColumnType.Tiny:
                var tiny = reader.ReadByte();
                SetInteger(block, target, column.Unsigned ? tiny : (sbyte)tiny);
                break;
            case MySqlColumnType.Short:
                var small = reader.ReadUInt16();
                SetInteger(block, target, column.Unsigned ? small : (short)small);
                break;
            case MySqlColumnType.Int24:
                var medium = reader.ReadUInt24();
                SetInteger(block, target, column.Unsigned ? medium : (int)(medium << 8) >> 8);
                break;
            case MySqlColumnType.Long:
                var integer = reader.ReadUInt32();
                SetInteger(block, target, column.Unsigned ? integer : (int)integer);
                break;
            case MySqlColumnType.LongLong:
                var big = reader.ReadUInt64();
                if (target >= 0)
                {
                    if (column.Unsigned)
                    {
                        block.SetDecimal(target, big);
                    }
                    else
                    {
                        block.SetInteger(target, (long)big);
                    }
                }

                break;
            case MySqlColumnType.Year:
                var year = reader.ReadByte();
                SetInteger(block, target, year == 0 ? 0 : 1900 + year);
                break;
            case MySqlColumnType.Float:
                var single = BitConverter.Int32BitsToSingle((int)reader.ReadUInt32());
                if (target >= 0)
                {
                    block.SetFloat(target, single);
                }

                break;
            case MySqlColumnType.Double:
                var number = BitConverter.Int64BitsToDouble((long)reader.ReadUInt64());
                if (target >= 0)
                {
                    block.SetFloat(target, number);
                }

                break;
            case MySqlColumnType.NewDecimal:
                var stored = reader.ReadBytes(MySqlDecimal.StorageSize(column.Precision, column.Scale));
                if (target >= 0)
                {
                    block.SetDecimal(target, MySqlDecimal.ReadClr(stored, column.Precision, column.Scale));
                }

                break;
            case MySqlColumnType.Date or MySqlColumnType.NewDate:
                SetTemporal(block, target, MySqlTemporal.ReadDate(reader.ReadUInt24())?.DayNumber);
                break;
            case MySqlColumnType.DateTime:
                SetTemporal(block, target, MySqlTemporal.ReadOldDateTime(reader.ReadUInt64())?.Ticks);
                break;
            case MySqlColumnType.DateTime2:
                SetTemporal(block, target, MySqlTemporal.ReadDateTime2(reader.ReadBytes(5 + (column.Precision + 1) / 2), column.Precision)?.Ticks);
                break;
            case MySqlColumnType.Timestamp:
                var seconds = reader.ReadUInt32();
                SetTemporal(block, target, seconds == 0 ? null : DateTime.UnixEpoch.AddSeconds(seconds).Ticks);
                break;
            case MySqlColumnType.Timestamp2:
                SetTemporal(block, target, MySqlTemporal.ReadTimestamp2(reader.ReadBytes(4 + (column.Precision + 1) / 2), column.Precision)?.Ticks);
                break;
            case MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString:
                var length = column.Length < 256 ? reader.ReadByte() : reader.ReadUInt16();
                SetText(block, target, reader.ReadBytes(length));
                break;
            default:
                // The BLOB/TEXT family (KindOf took no other type): a 1–4 byte length, then the bytes.
                SetText(block, target, reader.ReadBytes(checked((int)reader.ReadFixed(column.Length))));
                break;
        }
    }

    private static void SetInteger(InsertBlock block, int target, long value)
    {
        if (target >= 0)
        {
            block.SetInteger(target, value);
        }
    }

    /// <summary>A date's day number or a timestamp's ticks; null for MySQL's zero date, which has no value.</summary>
    private static void SetTemporal(InsertBlock block, int target, long? value)
    {
        if (target < 0)
        {
            return;
        }

        if (value is { } some)
        {
            block.SetInteger(target, some);
        }
        else
        {
            block.SetNull(target);
        }
    }

    private static void SetText(InsertBlock block, int target, ReadOnlySpan<byte> utf8)
    {
        if (target >= 0)
        {
            block.SetUtf8(target, utf8);
        }
    }
}
