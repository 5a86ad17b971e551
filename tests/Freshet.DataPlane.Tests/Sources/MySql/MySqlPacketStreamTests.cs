using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

public sealed class MySqlPacketStreamTests
{
    [Fact]
    public async Task ReadPayload_SplitAcrossMaximalChunks_IsReassembled()
    {
        var payload = new byte[MySqlPacketStream.MaxChunk + 5];
        Random.Shared.NextBytes(payload);
        var wire = new MemoryStream();
        wire.Write([0xFF, 0xFF, 0xFF, 0]);
        wire.Write(payload, 0, MySqlPacketStream.MaxChunk);
        wire.Write([5, 0, 0, 1]);
        wire.Write(payload, MySqlPacketStream.MaxChunk, 5);
        wire.Write([2, 0, 0, 2, 0xAB, 0xCD]);
        wire.Position = 0;

        using var packets = new MySqlPacketStream(wire);
        var first = await packets.ReadPayloadAsync(CancellationToken.None);
        Assert.Equal(payload.Length, first.Length);
        Assert.True(first.Span.SequenceEqual(payload));
        var second = await packets.ReadPayloadAsync(CancellationToken.None);
        Assert.Equal(new byte[] { 0xAB, 0xCD }, second.ToArray());
    }

    [Fact]
    public async Task WritePayload_ExactlyOneMaximalChunk_EndsWithAnEmptyPacketAndReadsBack()
    {
        var payload = new byte[MySqlPacketStream.MaxChunk];
        Random.Shared.NextBytes(payload);
        var wire = new MemoryStream();
        using (var writer = new MySqlPacketStream(wire))
        {
            await writer.WritePayloadAsync(payload, CancellationToken.None);
        }

        Assert.Equal(4 + MySqlPacketStream.MaxChunk + 4, wire.Length);
        Assert.Equal(new byte[] { 0, 0, 0, 1 }, wire.ToArray()[^4..]);
        wire.Position = 0;
        using var reader = new MySqlPacketStream(wire);
        Assert.True((await reader.ReadPayloadAsync(CancellationToken.None)).Span.SequenceEqual(payload));
    }

    [Fact]
    public async Task ReadPayload_OutOfSequence_IsRefused()
    {
        using var packets = new MySqlPacketStream(new MemoryStream([1, 0, 0, 3, 0x00]));
        var error = await Assert.ThrowsAsync<MySqlProtocolException>(async () => await packets.ReadPayloadAsync(CancellationToken.None));
        Assert.Contains("sequence id 3, expected 0", error.Message, StringComparison.Ordinal);
    }
}
