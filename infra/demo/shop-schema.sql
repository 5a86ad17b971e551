-- The demo source: a small shop with related tables and realistic types, replicated by the demo pipeline.
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    full_name   text NOT NULL,
    country     char(2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE order_status AS ENUM ('pending', 'paid', 'shipped', 'cancelled');

CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         varchar(32) NOT NULL UNIQUE,
    name        text NOT NULL,
    price       numeric(12, 2) NOT NULL,
    tags        text[] NOT NULL DEFAULT '{}',
    attributes  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    status       order_status NOT NULL DEFAULT 'pending',
    total        numeric(12, 2) NOT NULL DEFAULT 0,
    placed_at    timestamptz NOT NULL DEFAULT now(),
    shipped_on   date
);

CREATE TABLE order_items (
    order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no     smallint NOT NULL,
    product_id  uuid NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    unit_price  numeric(12, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

INSERT INTO customers (email, full_name, country)
SELECT format('customer%s@example.com', i), format('Customer %s', i), (ARRAY['DE', 'FR', 'US', 'GB', 'NL'])[1 + i % 5]
FROM generate_series(1, 200) AS i;

INSERT INTO products (id, sku, name, price, tags, attributes)
SELECT gen_random_uuid(), format('SKU-%s', lpad(i::text, 5, '0')), format('Product %s', i), round((5 + random() * 195)::numeric, 2),
       ARRAY['demo', (ARRAY['red', 'green', 'blue'])[1 + i % 3]], jsonb_build_object('weight_g', 100 + i * 7)
FROM generate_series(1, 50) AS i;

INSERT INTO orders (customer_id, status, placed_at)
SELECT 1 + (i * 37) % 200, (ARRAY['pending', 'paid', 'shipped', 'cancelled']::order_status[])[1 + i % 4], now() - make_interval(hours => i)
FROM generate_series(1, 500) AS i;

INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
SELECT o.id, l, p.id, 1 + (o.id + l) % 4, p.price
FROM orders o
CROSS JOIN generate_series(1, 3) AS l
JOIN LATERAL (SELECT id, price FROM products ORDER BY sku OFFSET (o.id * l) % 50 LIMIT 1) p ON true;

UPDATE orders o SET total = s.total FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) s WHERE s.order_id = o.id;
