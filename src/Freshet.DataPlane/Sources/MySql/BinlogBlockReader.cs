using System.Text;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Reads the row images of WRITE_ROWS events straight into an <see cref="InsertBlock"/>, column by column, for a table
/// map whose every column is of a type read this way: integers, YEAR, FLOAT, DOUBLE, DECIMAL up to 28 digits, DATE,
/// DATETIME, TIMESTAMP, TIME, BIT, CHAR/VARCHAR/TEXT in any character set <see cref="MySqlCollations"/> decodes
/// (transcoded to UTF-8), ENUM and SET (as their labels' text), binary strings, BLOBs and GEOMETRY (as bytes), and
/// MySQL's binary JSON (as its text). Any other column (a DECIMAL wider than 28 digits, text without a known
/// character set, an ENUM or SET without labels) leaves the table to <see cref="BinlogValueReader"/>. Each value is
/// what <see cref="BinlogValueReader.ReadValue"/> gives, held unboxed (<see cref="InsertBlock.Materialize"/> gives
/// the same objects back); the layouts are those that reader documents.
/// </summary>
internal sealed class BinlogBlockReader
{
    private readonly BinlogColumn[] _columns;

    /// <summary>Per binlog column: the schema column it fills, or -1 (read past).</summary>
    private readonly int[] _targets;

    /// <summary>Per binlog column: an ENUM's or SET's labels as UTF-8 (an ENUM's index 0, the empty string, first), else null.</summary>
    private readonly byte[][]?[] _labels;

    /// <summary>Per binlog column: the character set of text that is not UTF-8 already (transcoded), else null.</summary>
    private readonly Encoding?[] _encodings;

    /// <summary>Room to build a SET's text or a transcoded string in (one reader reads one row at a time).</summary>
    private byte[] _scratch = new byte[256];
    private char[] _chars = new char[128];

    private BinlogBlockReader(BinlogColumn[] columns, int[] targets, BlockValueKind[] kinds, byte[][]?[] labels, Encoding?[] encodings)
    {
        _columns = columns;
        _targets = targets;
        Kinds = kinds;
        _labels = labels;
        _encodings = encodings;
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

        var labels = new byte[][]?[columns.Length];
        var encodings = new Encoding?[columns.Length];
        for (var j = 0; j < columns.Length; j++)
        {
            if (KindOf(columns[j]) is not { } kind)
            {
                return null;
            }

            if (columns[j].Type is MySqlColumnType.Enum or MySqlColumnType.Set)
            {
                labels[j] = Utf8Labels(columns[j]);
                if (labels[j] is null)
                {
                    return null;
                }
            }
            else if (kind == BlockValueKind.Text && columns[j].Type != MySqlColumnType.Json)
            {
                var encoding = MySqlCollations.EncodingOf(columns[j].Collation!.Value);
                encodings[j] = encoding is UTF8Encoding ? null : encoding;
            }

            if (targets[j] >= 0)
            {
                kinds[targets[j]] = kind;
            }
        }

        return new BinlogBlockReader(columns, targets, kinds, labels, encodings);
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

            ReadValue(ref reader, j, block, target);
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
        MySqlColumnType.Time or MySqlColumnType.Time2 => BlockValueKind.Microseconds,
        MySqlColumnType.Bit => column.Length == 1 ? BlockValueKind.Boolean : BlockValueKind.Bytes,
        MySqlColumnType.Enum or MySqlColumnType.Set when column.Labels is not null => BlockValueKind.Text,
        MySqlColumnType.Json => BlockValueKind.Text,
        MySqlColumnType.Geometry => BlockValueKind.Bytes,
        MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString or MySqlColumnType.Blob
            or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob => column.IsBinary
            ? BlockValueKind.Bytes
            : HasKnownCharacterSet(column) ? BlockValueKind.Text : null,
        _ => null,
    };

    /// <summary>
    /// Whether text of the column decodes as the object reader decodes it: by its collation's character set. (A text
    /// column without charset metadata, which the object reader reads as UTF-8, is left to it: rare, and not worth a case.)
    /// </summary>
    private static bool HasKnownCharacterSet(BinlogColumn column)
    {
        if (column.Collation is not int collation)
        {
            return false;
        }

        try
        {
            _ = MySqlCollations.EncodingOf(collation);
            return true;
        }
        catch (BinlogUnsupportedException)
        {
            return false;
        }
    }

    /// <summary>
    /// An ENUM's or SET's labels as UTF-8, encoded once; null when a label would not come back from UTF-8 as the same
    /// string (a lone surrogate), so that the block's text could differ from the object reader's.
    /// </summary>
    private static byte[][]? Utf8Labels(BinlogColumn column)
    {
        var labels = column.Labels!;
        var enumIndexed = column.Type == MySqlColumnType.Enum;
        var utf8 = new byte[labels.Count + (enumIndexed ? 1 : 0)][];
        if (enumIndexed)
        {
            // ENUM index 0: the empty string MySQL stores for a value it could not match (non-strict mode).
            utf8[0] = [];
        }

        for (var i = 0; i < labels.Count; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(labels[i]);
            if (!string.Equals(Encoding.UTF8.GetString(bytes), labels[i], StringComparison.Ordinal))
            {
                return null;
            }

            utf8[i + (enumIndexed ? 1 : 0)] = bytes;
        }

        return utf8;
    }

    private void ReadValue(ref PayloadReader reader, int j, InsertBlock block, int target)
    {
        var column = _columns[j];
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
            case MySqlColumnType.Time:
                SetInteger(block, target, MySqlTemporal.ReadOldTime(reader.ReadUInt24()).Time);
                break;
            case MySqlColumnType.Time2:
                SetInteger(block, target, MySqlTemporal.ReadTime2(reader.ReadBytes(3 + (column.Precision + 1) / 2), column.Precision).Time);
                break;
            case MySqlColumnType.Bit:
                var bits = reader.ReadBytes((column.Length + 7) / 8);
                if (target >= 0)
                {
                    if (column.Length == 1)
                    {
                        block.SetInteger(target, bits[0] != 0 ? 1 : 0);
                    }
                    else
                    {
                        block.SetBytes(target, bits);
                    }
                }

                break;
            case MySqlColumnType.Enum:
                // An index past the labels fails as the object reader's does (IndexOutOfRangeException).
                var label = _labels[j]![(int)reader.ReadFixed(column.Length)];
                if (target >= 0)
                {
                    block.SetUtf8(target, label);
                }

                break;
            case MySqlColumnType.Set:
                var members = reader.ReadFixed(column.Length);
                if (target >= 0)
                {
                    block.SetUtf8(target, SetMembers(members, _labels[j]!));
                }

                break;
            case MySqlColumnType.Json:
                // MySQL only (MariaDB's JSON is LONGTEXT). The object reader's text, as UTF-8: ToText decodes the
                // document's strings with replacement and escapes as ASCII, so the string has no lone surrogate and
                // comes back from UTF-8 unchanged.
                var document = reader.ReadBytes(checked((int)reader.ReadFixed(column.Length)));
                if (target >= 0)
                {
                    block.SetUtf8(target, Transcode(MySqlBinaryJson.ToText(document)));
                }

                break;
            case MySqlColumnType.String:
                var fixedLength = column.Length < 256 ? reader.ReadByte() : reader.ReadUInt16();
                var fixedBytes = reader.ReadBytes(fixedLength);
                if (column.IsBinary)
                {
                    // BINARY(n) is stored with its trailing zero bytes stripped; the object reader gives all n back.
                    if (target >= 0)
                    {
                        block.SetBytes(target, fixedBytes, Math.Max(0, column.Length - fixedBytes.Length));
                    }
                }
                else
                {
                    SetText(block, target, fixedBytes, j);
                }

                break;
            case MySqlColumnType.VarChar or MySqlColumnType.VarString:
                var length = column.Length < 256 ? reader.ReadByte() : reader.ReadUInt16();
                SetStringOrBytes(block, target, reader.ReadBytes(length), j);
                break;
            default:
                // The BLOB/TEXT family and GEOMETRY (KindOf took no other type): a 1–4 byte length, then the bytes.
                SetStringOrBytes(block, target, reader.ReadBytes(checked((int)reader.ReadFixed(column.Length))), j);
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

    private void SetStringOrBytes(InsertBlock block, int target, ReadOnlySpan<byte> stored, int j)
    {
        if (!_columns[j].IsBinary)
        {
            SetText(block, target, stored, j);
        }
        else if (target >= 0)
        {
            block.SetBytes(target, stored);
        }
    }

    /// <summary>Text in the column's character set, as UTF-8: the object reader's string (decoded with replacement), encoded.</summary>
    private void SetText(InsertBlock block, int target, ReadOnlySpan<byte> stored, int j)
    {
        if (target < 0)
        {
            return;
        }

        if (_encodings[j] is not { } encoding)
        {
            block.SetUtf8(target, stored);
            return;
        }

        var chars = encoding.GetMaxCharCount(stored.Length);
        if (chars > _chars.Length)
        {
            _chars = new char[Math.Max(chars, _chars.Length * 2)];
        }

        var decoded = encoding.GetChars(stored, _chars);
        block.SetUtf8(target, Transcode(_chars.AsSpan(0, decoded)));
    }

    /// <summary>
    /// UTF-16 as UTF-8, in the scratch buffer. Exact for strings a decoder with replacement made (no lone surrogates),
    /// which every string given here is.
    /// </summary>
    private ReadOnlySpan<byte> Transcode(ReadOnlySpan<char> text)
    {
        var bytes = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (bytes > _scratch.Length)
        {
            _scratch = new byte[Math.Max(bytes, _scratch.Length * 2)];
        }

        return _scratch.AsSpan(0, Encoding.UTF8.GetBytes(text, _scratch));
    }

    /// <summary>A SET's members as MySQL shows them (and the object reader gives them): the labels joined by commas, in definition order.</summary>
    private ReadOnlySpan<byte> SetMembers(ulong members, byte[][] labels)
    {
        var length = 0;
        for (var i = 0; i < labels.Length && i < 64; i++)
        {
            if ((members & (1UL << i)) == 0)
            {
                continue;
            }

            var label = labels[i];
            if (length + label.Length + 1 > _scratch.Length)
            {
                Array.Resize(ref _scratch, Math.Max(_scratch.Length * 2, length + label.Length + 1));
            }

            if (length > 0)
            {
                _scratch[length++] = (byte)',';
            }

            label.CopyTo(_scratch, length);
            length += label.Length;
        }

        return _scratch.AsSpan(0, length);
    }
}
