using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Collation ids (as the binlog's charset metadata carries them) to the encoding of their character set. Ids from
/// MariaDB 10.11's information_schema.COLLATIONS and MySQL 8's utf8mb4_0900 range (255–323); MariaDB 10.10+ numbers its
/// uca1400 collations per character set in blocks of 256 from 2048.
/// </summary>
internal static class MySqlCollations
{
    public const int Binary = 63;

    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);
    private static readonly Encoding Utf32BigEndian = new UTF32Encoding(bigEndian: true, byteOrderMark: false);

    private static readonly Dictionary<int, Encoding> ById = Build();

    /// <summary>Whether the collation is <c>binary</c> (BINARY, VARBINARY, BLOB columns carry bytes, not text).</summary>
    public static bool IsBinary(int collationId) => collationId == Binary;

    /// <summary>The encoding of a collation's character set; throws for one this client does not decode yet.</summary>
    public static Encoding EncodingOf(int collationId) =>
        ById.TryGetValue(collationId, out var encoding)
            ? encoding
            : throw new BinlogUnsupportedException(
                $"Collation id {collationId} belongs to a character set this reader does not decode yet (it decodes utf8mb4, utf8mb3, latin1, ascii, ucs2, utf16, utf16le, utf32 and binary).");

    private static Dictionary<int, Encoding> Build()
    {
        var map = new Dictionary<int, Encoding>();
        void Add(Encoding encoding, params IEnumerable<int>[] ids)
        {
            foreach (var id in ids.SelectMany(i => i))
            {
                map[id] = encoding;
            }
        }

        static IEnumerable<int> Range(int first, int last) => Enumerable.Range(first, last - first + 1);

        // MySQL's latin1 is really cp1252; Latin-1 differs only in 0x80–0x9F, which cp1252 uses for a few symbols.
        Add(Encoding.Latin1, [5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071]);
        Add(Encoding.ASCII, [11, 65, 1035, 1089]);
        Add(Utf8, [33, 83, 76, 223, 576, 577, 578, 1057, 1107, 1216, 1238], Range(192, 215), Range(2048, 2303));
        Add(Utf8, [45, 46, 608, 609, 610, 1069, 1070, 1248, 1270], Range(224, 247), Range(255, 323), Range(2304, 2559));
        Add(Encoding.BigEndianUnicode, [35, 90, 159, 640, 641, 642, 1059, 1114, 1152, 1174], Range(128, 151), Range(2560, 2815));
        Add(Encoding.BigEndianUnicode, [54, 55, 672, 673, 674, 1078, 1079, 1125, 1147], Range(101, 124), Range(2816, 3071));
        Add(Encoding.Unicode, [56, 62, 1080, 1086]);
        Add(Utf32BigEndian, [60, 61, 736, 737, 738, 1084, 1085, 1184, 1206], Range(160, 183), Range(3072, 3327));
        return map;
    }
}
