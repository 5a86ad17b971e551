-- Live traffic for the demo shop (infra/demo/shop-schema.sql), so the demo pipeline has changes to stream.
-- infra/run.sh creates the procedure on every start (as the database owner) and calls it about once a second:
--
--   CALL shop_tick();
--
-- Each call is one transaction (a CALL outside a transaction block commits once): it places an order with one to
-- three items, moves older orders along pending → paid → shipped, and now and then updates a customer or a
-- product price, cancels an unpaid order, or deletes an old cancelled one (its items go with it, ON DELETE CASCADE).
-- Inserts, updates and deletes thus reach every replicated table, including multi-row transactions.
CREATE OR REPLACE PROCEDURE shop_tick()
LANGUAGE plpgsql
AS $$
DECLARE
    new_order bigint;
BEGIN
    -- A new order: a random customer, one to three distinct products at their current price.
    INSERT INTO orders (customer_id)
    SELECT id FROM customers ORDER BY random() LIMIT 1
    RETURNING id INTO new_order;

    INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
    SELECT new_order, (row_number() OVER ())::smallint, p.id, 1 + floor(random() * 4)::int, p.price
    FROM (SELECT id, price FROM products ORDER BY random() LIMIT 1 + floor(random() * 3)::int) AS p;

    UPDATE orders
    SET total = (SELECT sum(quantity * unit_price) FROM order_items WHERE order_id = new_order)
    WHERE id = new_order;

    -- Payment arrives a few seconds after the order, shipping a few seconds later; the oldest go first. Up to two
    -- of each per call, so the seeded backlog drains and a few seconds' worth of orders stay in each state.
    UPDATE orders SET status = 'paid'
    WHERE id IN (SELECT id FROM orders
                 WHERE status = 'pending' AND placed_at < now() - interval '3 seconds'
                 ORDER BY id LIMIT 1 + floor(random() * 2)::int);

    UPDATE orders SET status = 'shipped', shipped_on = current_date
    WHERE id IN (SELECT id FROM orders
                 WHERE status = 'paid' AND placed_at < now() - interval '10 seconds'
                 ORDER BY id LIMIT 1 + floor(random() * 2)::int);

    -- A customer moves, or corrects their name.
    IF random() < 0.15 THEN
        UPDATE customers
        SET country = (ARRAY['DE', 'FR', 'US', 'GB', 'NL', 'SE', 'ES'])[1 + floor(random() * 7)::int],
            full_name = regexp_replace(full_name, ' \(updated \d+\)$', '') || format(' (updated %s)', floor(random() * 1000)::int)
        WHERE id = (SELECT id FROM customers ORDER BY random() LIMIT 1);
    END IF;

    -- A price change of up to ±10 %, recorded in the product's attributes too (a jsonb update).
    IF random() < 0.1 THEN
        UPDATE products
        SET price = greatest(1.00, round(price * (0.9 + random() * 0.2)::numeric, 2)),
            attributes = attributes || jsonb_build_object('repriced_at', now())
        WHERE id = (SELECT id FROM products ORDER BY random() LIMIT 1);
    END IF;

    -- Now and then a customer cancels an unpaid order, and the oldest cancelled order is deleted with its items.
    IF random() < 0.05 THEN
        UPDATE orders SET status = 'cancelled'
        WHERE id = (SELECT id FROM orders WHERE status = 'pending' ORDER BY random() LIMIT 1);
    END IF;

    IF random() < 0.05 THEN
        DELETE FROM orders
        WHERE id = (SELECT id FROM orders
                    WHERE status = 'cancelled' AND placed_at < now() - interval '1 minute'
                    ORDER BY id LIMIT 1);
    END IF;
END
$$;
