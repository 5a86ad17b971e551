using System.Buffers;
using System.Net;

namespace Freshet.DataPlane.Destinations;

/// <summary>
/// Bytes written in order into segments of <see cref="SegmentBytes"/> (larger only when one write asks for more), for
/// request bodies of several megabytes. One contiguous array of that size would sit on the large-object heap, and the
/// usual growing buffers (MemoryStream, System.Text.Json's pooled writers) double through ever larger arrays that
/// <c>ArrayPool.Shared</c> then keeps per thread: with 8 MiB Snowflake requests that held about 200 MB of a worker's heap
/// after the requests were done, and a 384 MiB heap limit ran out. Segments under the large-object threshold are
/// ordinary young objects, collected and compacted as such. Not pooled on purpose: a segment is never shared, so a
/// request still being read can never see another's bytes.
/// </summary>
internal sealed class SegmentedBuffer : IBufferWriter<byte>
{
    /// <summary>Below the 85,000-byte large-object threshold.</summary>
    internal const int SegmentBytes = 64 * 1024;

    private readonly List<(byte[] Array, int Length)> _full = [];
    private byte[] _current = [];
    private int _used;

    /// <summary>Bytes written so far.</summary>
    public long Length { get; private set; }

    public void Advance(int count)
    {
        if (count < 0 || _used + count > _current.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(count), count, "beyond the memory handed out");
        }

        _used += count;
        Length += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _current.AsMemory(_used);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _current.AsSpan(_used);
    }

    /// <summary>Appends <paramref name="bytes"/>, spread over segments as they fill.</summary>
    public void Write(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var span = GetSpan(1);
            var count = Math.Min(span.Length, bytes.Length);
            bytes[..count].CopyTo(span);
            Advance(count);
            bytes = bytes[count..];
        }
    }

    /// <summary>Appends everything <paramref name="other"/> holds.</summary>
    public void Write(SegmentedBuffer other)
    {
        foreach (var segment in other.Segments())
        {
            Write(segment.Span);
        }
    }

    public IEnumerable<ReadOnlyMemory<byte>> Segments()
    {
        foreach (var (array, length) in _full)
        {
            yield return array.AsMemory(0, length);
        }

        if (_used > 0)
        {
            yield return _current.AsMemory(0, _used);
        }
    }

    /// <summary>The bytes as request content; each call gives new content over the same bytes (a retry sends them again).</summary>
    public HttpContent ToContent() => new Content(this);

    private void Reserve(int sizeHint)
    {
        if (_current.Length - _used >= Math.Max(sizeHint, 1))
        {
            return;
        }

        if (_used > 0)
        {
            _full.Add((_current, _used));
        }

        _current = new byte[Math.Max(sizeHint, SegmentBytes)];
        _used = 0;
    }

    private sealed class Content(SegmentedBuffer buffer) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            await SerializeToStreamAsync(stream, context, CancellationToken.None).ConfigureAwait(false);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            foreach (var segment in buffer.Segments())
            {
                await stream.WriteAsync(segment, cancellationToken).ConfigureAwait(false);
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = buffer.Length;
            return true;
        }
    }
}
